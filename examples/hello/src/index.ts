/**
 * The example package "hello": what an SDK package exports (PROTOCOL.md,
 * "The package module"), written by hand so every effect call is visible.
 * `deno task build-example` bundles this into `../dist/index.js` (CommonJS),
 * the file the runtime loads.
 */

import type { T } from "@start9labs/start-sdk";
import { ACTIONS, type PackageAction } from "./actions.ts";
import { readGreeting, writeGreeting } from "./greeting.ts";
import { webPort } from "./paths.ts";

/** Backs the `main` volume up into `${root}/backup`, reporting progress. */
export { createBackup } from "./backup.ts";
/** Starts the web server daemon and its health check. */
export { main } from "./main.ts";

/** The package manifest (a small part of the SDK's `Manifest`). */
export const manifest = {
  id: "hello",
  title: "Hello",
  version: "0.1.0:0",
  volumes: ["main"],
  images: {},
  dependencies: {},
};

/** The SDK's `actions` object: the runtime only calls `get(id)`. */
export const actions = {
  get: (id: string): PackageAction | undefined => ACTIONS[id],
};

/**
 * Runs at every container start (`kind` null) and on install/update/restore:
 * creates the volume's data, binds the web port, exports its interface and
 * the actions, and removes whatever an older version exported.
 */
export const init: T.ExpectedExports.init = async ({ effects, kind }) => {
  if (kind === "install") await writeGreeting(await readGreeting());
  const internalPort = webPort();
  await effects.bind({
    id: "ui",
    internalPort,
    preferredExternalPort: internalPort,
    addSsl: null,
    secure: { ssl: false },
  });
  await effects.clearBindings({ except: [{ id: "ui", internalPort }] });
  await effects.exportServiceInterface({
    id: "ui",
    name: "Web UI",
    description: "A page that shows the greeting",
    masked: false,
    type: "ui",
    addressInfo: {
      username: null,
      hostId: "ui",
      internalPort,
      scheme: "http",
      sslScheme: "https",
      suffix: "",
    },
  });
  await effects.clearServiceInterfaces({ except: ["ui"] });
  for (const [id, action] of Object.entries(ACTIONS)) {
    await effects.action.export({ id, metadata: action.metadata });
  }
  await effects.action.clear({ except: Object.keys(ACTIONS) });
  await effects.setDependencies({ dependencies: [] });
  await effects.setDataVersion({ version: manifest.version });
};

/** Runs before the package is removed (`target` null) or replaced by another version. */
export const uninit: T.ExpectedExports.uninit = ({ target }) => {
  console.log(target === null ? "uninstalling" : `moving to ${target.toString()}`);
  return Promise.resolve(null);
};
