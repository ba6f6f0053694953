// In-process MLS figures of the client core's WebAssembly build in Node, next to ts-mls (bench/wasm-core.mjs):
//   scripts/build-wasm.sh && npm run build && node bench/wasm.mjs   (env: RUNS (30), CREATE_RUNS (5))
import { loadCore } from "../test/wasm/load.mjs";
import { describeWasmFigures, wasmFigures } from "./wasm-core.mjs";

const runs = Number(process.env.RUNS ?? 30);
const createRuns = Number(process.env.CREATE_RUNS ?? 5);
const { core, loadMs } = await loadCore();
const figures = await wasmFigures(core, { runs, createRuns });
console.log(`Node ${process.version}, wasm load + instantiate ${loadMs.toFixed(1)} ms (medians):`);
for (const line of describeWasmFigures(figures, { runs, createRuns })) console.log(`  ${line}`);
console.log(JSON.stringify({ node: process.version, loadMs, runs, createRuns, medianMs: figures }));
