// Test hooks installed before the production worker loads (imported first by test-worker.js):
// keeps every WebGPU device the wasm module asks for, so that the test can destroy it (a lost
// device), and counts what crosses between the GPU and the CPU.
export const devices = [];
export const counts = {
  readbacks: 0,
  readbackBytes: 0,
  writes: 0,
  writeBytes: 0,
  mappedAtCreationBytes: 0,
};

if (typeof GPUAdapter !== 'undefined') {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    devices.push(device);
    return device;
  };
  const mapAsync = GPUBuffer.prototype.mapAsync;
  GPUBuffer.prototype.mapAsync = function (mode, offset, size) {
    if (mode & GPUMapMode.READ) {
      counts.readbacks += 1;
      counts.readbackBytes += size ?? this.size - (offset ?? 0);
    }
    return mapAsync.apply(this, arguments);
  };
  const writeBuffer = GPUQueue.prototype.writeBuffer;
  GPUQueue.prototype.writeBuffer = function (buffer, offset, data, dataOffset, size) {
    counts.writes += 1;
    const elementBytes = data.BYTES_PER_ELEMENT ?? 1;
    counts.writeBytes +=
      size !== undefined ? size * elementBytes : data.byteLength - (dataOffset ?? 0) * elementBytes;
    return writeBuffer.apply(this, arguments);
  };
  const createBuffer = GPUDevice.prototype.createBuffer;
  GPUDevice.prototype.createBuffer = function (descriptor) {
    if (descriptor?.mappedAtCreation) counts.mappedAtCreationBytes += descriptor.size;
    return createBuffer.apply(this, arguments);
  };
}
