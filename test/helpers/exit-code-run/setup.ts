import { startPostgres } from '../postgres.js';

export async function setup(): Promise<() => Promise<void>> {
  const postgres = await startPostgres();
  return () => postgres.stop();
}
