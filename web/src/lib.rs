//! VIP5 in the browser (skeleton; the JS API lands with the browser issue).
