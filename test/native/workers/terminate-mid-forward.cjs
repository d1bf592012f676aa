// Child process of worker-threads.test.ts (issue 22, defect 1): ITERATIONS times, a worker_thread loads the glyph
// DiT, starts a batch-128 forward plus a second one queued behind it, never awaits them, keeps calling into the
// addon, and is terminated a few milliseconds later, while the first forward runs. The model's job thread must not outlive the worker's
// environment (it used to call a freed thread-safe function: `free(): invalid next size`, SIGSEGV). The process
// then still loads and runs a model on its main thread. Prints one JSON line; any crash kills the process instead.
// Usage: node terminate-mid-forward.cjs <addon.node> <model dir> <iterations>
const { Worker } = require("node:worker_threads");
const { once } = require("node:events");
const path = require("node:path");

const [addonPath, modelDir] = process.argv.slice(2, 4).map((p) => path.resolve(p));
const iterationsArg = process.argv[4];
const iterations = Number(iterationsArg);

const workerCode = `
const { parentPort, workerData } = require("node:worker_threads");
const addon = require(workerData.addonPath);
(async () => {
  const model = await addon.loadModel(workerData.modelDir, { threads: 2 });
  const batch = 128;
  const x = addon.NativeTensor.fromFloat32(new Float32Array(batch * 3 * 32 * 32).fill(0.5), [batch, 3, 32, 32]);
  const t = new Float32Array(batch).fill(500);
  const y = new Int32Array(batch).fill(3);
  model.forward(x, t, y, {}).then(() => parentPort.postMessage("finished"));
  model.forward(x, t, y, {});  // queued behind the first: dropped at teardown
  // Keep calling into the addon, so the termination also lands inside native calls.
  const spin = () => { x.clone().dispose(); model.threads(); setImmediate(spin); };
  spin();
  parentPort.postMessage("started");
})();
`;

async function main() {
  let finishedBeforeTerminate = 0;
  for (let i = 0; i < iterations; i++) {
    const worker = new Worker(workerCode, { eval: true, workerData: { addonPath, modelDir } });
    let finished = false;
    worker.on("error", (e) => {
      console.error(e);
      process.exit(1);
    });
    worker.on("message", (m) => {
      if (m === "finished") finished = true;
      if (m === "started") setTimeout(() => void worker.terminate(), 10 * (i % 4));  // 0, 10, 20, 30 ms
    });
    await once(worker, "exit");
    if (finished) finishedBeforeTerminate++;
  }
  const addon = require(addonPath);
  const model = await addon.loadModel(modelDir, { threads: 1 });
  const out = await model.forward(
    addon.NativeTensor.fromFloat32(new Float32Array(3 * 32 * 32).fill(0.5), [1, 3, 32, 32]),
    new Float32Array([500]),
    new Int32Array([3]),
    {},
  );
  model.dispose();
  console.log(JSON.stringify({ iterations, finishedBeforeTerminate, mainShape: out.out.shape() }));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
