// This device's key package supply on the server: 50 one-time + 1 last-resort, topped up below 10. The packages are
// made by the core, which keeps their private halves in the device's state (deleted when a Welcome uses a one-time
// package); the state is saved before the upload, so a package the server hands out can always be opened here.

import { type KeyPackageSupply } from "./api.js";
import { type DeviceContext, save } from "./context.js";
import { core } from "./core.js";

/** One-time key packages kept on the server; topped up when fewer than KEY_PACKAGE_LOW are left. */
export const KEY_PACKAGE_BATCH = 50;
export const KEY_PACKAGE_LOW = 10;

/** Uploads one-time packages up to KEY_PACKAGE_BATCH when fewer than KEY_PACKAGE_LOW are left, and a last-resort
 * package when the server has none (or only an expired one); the private keys of expired packages are deleted
 * first (nobody can be handed those). Returns the supply after. */
export async function topUpKeyPackages(ctx: DeviceContext): Promise<KeyPackageSupply> {
  const supply = await ctx.api.keyPackageSupply();
  const pruned = core(() => ctx.core.pruneKeyPackages(Date.now()));
  const oneTime = supply.oneTime < KEY_PACKAGE_LOW ? KEY_PACKAGE_BATCH - supply.oneTime : 0;
  const packages = [
    ...(oneTime > 0 ? core(() => ctx.core.keyPackages(oneTime, false)) : []),
    ...(supply.lastResort ? [] : core(() => ctx.core.keyPackages(1, true))),
  ];
  if (packages.length > 0 || pruned > 0) await save(ctx);
  if (packages.length === 0) return supply;
  return ctx.api.uploadKeyPackages(packages);
}
