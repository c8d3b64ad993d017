import { after, before } from "node:test";
import { AZURITE_ACCOUNT, AZURITE_KEY, AzuriteServer } from "../../src/demo/azurite";
import { AbsStore } from "../../src/store/absStore";

/** The environment variable the test configs reference for Azurite's key (env:UNDERSTUDY_TEST_AZURITE_KEY). */
export const KEY_ENV = "UNDERSTUDY_TEST_AZURITE_KEY";

/** A real Azurite for the whole test file, started before its tests and stopped after them. */
export function useAzurite(): { server: AzuriteServer; container: (name: string) => Promise<AbsStore> } {
  const server = new AzuriteServer();
  before(async () => {
    await server.start();
    process.env[KEY_ENV] = AZURITE_KEY;
  });
  after(() => server.stop());
  const container = async (name: string) => {
    const s = new AbsStore(AZURITE_ACCOUNT, name, { accountKey: AZURITE_KEY }, server.endpoint);
    await s.ensureContainer();
    return s;
  };
  return { server, container };
}
