// The one error type the library throws, so a page can tell vip5's failures from its own
// (`instanceof Vip5Error`) and show their messages as they are.

/** Thrown for every failure, with a message a web developer can act on. */
export class Vip5Error extends Error {
  constructor(message, { cause, fatal = false } = {}) {
    super(message, { cause });
    this.name = 'Vip5Error';
    this.fatal = fatal;
  }
}
