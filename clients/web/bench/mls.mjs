// MLS figures of the web SDK on Node (medians of one run; bench/mls-core.mjs says what is measured):
//   npm run build && E2EE_SERVER=http://127.0.0.1:9100 node bench/mls.mjs   (env: RUNS (30), CREATE_RUNS (5))
import { MemoryKvStore } from "../dist/index.js";
import { describeFigures, mlsFigures } from "./mls-core.mjs";

const SERVER = process.env.E2EE_SERVER;
if (!SERVER) throw new Error("set E2EE_SERVER");
const runs = Number(process.env.RUNS ?? 30);
const createRuns = Number(process.env.CREATE_RUNS ?? 5);
const figures = await mlsFigures({ server: SERVER, newStore: async () => new MemoryKvStore(), runs, createRuns });
for (const line of describeFigures(figures, { runs, createRuns })) console.log(line);
