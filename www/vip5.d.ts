// TypeScript declarations of vip5.js, the library's facade (hand-written beside it; the wasm
// module's own declarations are trunk's vip5-web.d.ts).

/** Thrown for every failure, with a message a web developer can act on. */
export declare class Vip5Error extends Error {
  constructor(message: string, options?: { cause?: unknown; fatal?: boolean });
  readonly name: 'Vip5Error';
  /** The worker died (a wasm trap or a lost device) and was restarted from the cached bytes. */
  readonly fatal: boolean;
}

/**
 * A file's loading step, named and shaped like transformers.js's `progress_callback` events: per
 * file `initiate`, then `download` (only when it comes from the network), `progress` as bytes
 * arrive (once, at 100 %, for a Cache API read), and `done`.
 */
export type Vip5FileProgress =
  | {
      status: 'initiate' | 'download';
      /** The URL as given to `Recommender.load`. */
      file: string;
    }
  | {
      status: 'progress';
      file: string;
      /** Bytes received so far. */
      loaded: number;
      /** Bytes in all (0 when the server sends no length). */
      total: number;
      /** Percent, 0-100 (null when the server sends no length). */
      progress: number | null;
      /** Read from the Cache API instead of the network. */
      cached: boolean;
    }
  | { status: 'done'; file: string; cached: boolean }
  | {
      /** The download was cut or stalled; it is tried again (from `loaded` where it can). */
      status: 'retry';
      file: string;
      /** The try about to start, 2.. `attempts`. */
      attempt: number;
      attempts: number;
      /** Bytes kept from the tries so far (0 when it starts again from the beginning). */
      loaded: number;
      total: number;
      /** Why the last try failed ("no data for 30 s", "network error", ...). */
      reason: string;
    };

/** How a download that fails halfway is tried again (`RecommenderOptions.download`). */
export interface DownloadOptions {
  /** Tries in all, the first included. @default 3 */
  attempts?: number;
  /** Seconds without a byte after which a try counts as stalled and is aborted. @default 30 */
  stallSeconds?: number;
}

/** The defaults of `DownloadOptions`. */
export declare const DOWNLOAD_DEFAULTS: Readonly<Required<DownloadOptions>>;

/**
 * What `Recommender.load` reports: each file's steps with `name` saying which file (the model
 * bundle or the CLIP weights), then `ready` once the model is built in the worker.
 */
export type Vip5Progress =
  | (Vip5FileProgress & { name: 'bundle' | 'clip' })
  | { status: 'ready'; name: 'model'; file: string; backend: 'webgpu' | 'cpu' };

export interface RecommenderOptions {
  /** URL of a model bundle (`trainer export`, a `.gguf` file). */
  bundle: string;
  /**
   * URL of a CLIP vision bundle (`trainer export-clip`), or of a Hugging Face CLIP
   * `model.safetensors` (its `config.json` beside it; only the vision tower's byte ranges are
   * fetched, so the server must honour HTTP Range). Needed by `embedImage` and `scorePhoto`.
   */
  clip?: string;
  /**
   * `auto`: WebGPU when the browser has a usable adapter (checked with a short self-test at
   * load), else the CPU (wasm); `webgpu`: WebGPU, taken at its word; `cpu`: the CPU path.
   * @default 'auto'
   */
  backend?: 'auto' | 'webgpu' | 'cpu';
  /** Called at each loading step and as bytes arrive. */
  onProgress?: (progress: Vip5Progress) => void;
  /** URL of vip5-worker.js. @default 'vip5-worker.js' beside vip5.js */
  workerUrl?: string;
  /**
   * Retries of a download cut or stalled halfway: resumed with a Range request when the server
   * honours it for the same version, else started again. Nothing partial is ever cached.
   */
  download?: DownloadOptions;
}

/** One catalogue item of the bundle. */
export interface CatalogItem {
  /** The model's id (1-based position in the catalogue). */
  id: number;
  /** The shop's stable key (ASIN, SKU). */
  key: string;
  title: string;
}

/** A recommended or ranked item. */
export interface ScoredItem extends CatalogItem {
  /** The beam's length-normalised log-probability (recommendNext, rankCandidates) or P(yes). */
  score: number;
}

/** One recorded visit or purchase. */
export interface HistoryEvent {
  key: string;
  /** `Date.now()` when recorded. */
  t: number;
}

/** Where the load went. */
export interface LoadInfo {
  backend: 'webgpu' | 'cpu';
  backendReason: string;
  bundleBytes: number;
  clipBytes: number;
  /** Every file came from the Cache API. */
  cached: boolean;
  downloadSeconds: number;
  loadSeconds: number;
  /** The worker's load steps, in order. */
  steps: { step: string; ms: number }[];
}

export interface RecommendFilters {
  /** Keys never to return (out of stock). */
  exclude?: string[];
  /** Return only among these keys (in stock). Keys the bundle lacks are skipped. */
  only?: string[];
}

/** Private, on-device VIP5 recommendations for one visitor. */
export declare class Recommender {
  /** Downloads (or reads from the Cache API) the bundle and starts the worker. */
  static load(options: RecommenderOptions): Promise<Recommender>;
  /** Set by `load`. */
  info: LoadInfo;
  /** `webgpu` or `cpu`. */
  backend(): 'webgpu' | 'cpu';
  /** Why that backend was chosen (e.g. "no WebGPU in this browser: CPU fallback"). */
  backendReason(): string;
  /** The bundle's items. */
  catalog(): CatalogItem[];
  /** Records that the visitor looked at or bought an item; stored in IndexedDB on this device. */
  record(itemKey: string): Promise<void>;
  /** The history, oldest first. Keys unknown to this bundle are kept (and skipped in prompts). */
  history(): Promise<HistoryEvent[]>;
  clearHistory(): Promise<void>;
  historyKeys(): Promise<string[]>;
  /** The next items for this visitor: real items not yet in the history, best first. */
  recommendNext(k?: number, filters?: RecommendFilters): Promise<ScoredItem[]>;
  /** The candidates (item keys), best first. */
  rankCandidates(keys: string[]): Promise<ScoredItem[]>;
  /** P(yes) that this visitor would buy the item next. */
  score(itemKey: string): Promise<number>;
  /** CLIP features of an image (needs `clip` in `load`). */
  embedImage(image: ImageData): Promise<Float32Array>;
  /** P(yes) that this visitor would like the product in the photo (needs `clip` in `load`). */
  scorePhoto(image: ImageData): Promise<number>;
  /**
   * The worker's wasm memory in bytes: the most the model has held at once (wasm memory only
   * grows; WebGPU buffers are not counted).
   */
  memoryBytes(): Promise<number>;
  /** Stops the worker. */
  terminate(): void;
}

/** The bytes of `url`, from the Cache API when this version is cached, else downloaded. */
export declare function fetchCached(
  url: string,
  onProgress?: (p: Vip5FileProgress) => void,
  options?: DownloadOptions,
): Promise<{ bytes: Uint8Array; cached: boolean; seconds: number }>;

/** Only the vision tensors of a Hugging Face CLIP `model.safetensors`, by Range requests. */
export declare function fetchClipVision(
  url: string,
  onProgress?: (p: Vip5FileProgress) => void,
  options?: DownloadOptions,
): Promise<{ bytes: Uint8Array; config: string; cached: boolean; seconds: number }>;
