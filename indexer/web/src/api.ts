/**
 * The indexer API, typed by the types openapi-typescript generates from its
 * OpenAPI document (clients/js/src/api/indexer.ts).
 */
import type { IndexerApi } from '@sparks/client';

type Schemas = IndexerApi.components['schemas'];
export type Summary = Schemas['SparksSummary'];
export type HistoryPage = Schemas['HistoryPage'];
export type HistoryEntry = HistoryPage['entries'][number];
export type Perk = Schemas['PerkView'];
export type Claims = Schemas['ClaimList'];
export type Spots = Schemas['WhitelistSpotList'];
export type Whitelist = Schemas['WhitelistView'];
export type Pending = Schemas['PendingAwards'];
export type ClientConfig = Schemas['ClientConfig'];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function api<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = (await response.json().catch(() => ({}))) as { message?: string };
  if (!response.ok) throw new ApiError(response.status, body.message ?? response.statusText);
  return body as T;
}

export const wallets = (address: string) => {
  const wallet = encodeURIComponent(address);
  return {
    summary: () => api<Summary>(`/v1/wallets/${wallet}/sparks`),
    history: (cursor?: string | null) =>
      api<HistoryPage>(
        `/v1/wallets/${wallet}/history?limit=10` + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''),
      ),
    spots: () => api<Spots>(`/v1/wallets/${wallet}/whitelists`),
    claims: () => api<Claims>(`/v1/wallets/${wallet}/claims`),
    pending: () => api<Pending>(`/v1/wallets/${wallet}/pending`),
    stream: () => new EventSource(`/v1/wallets/${wallet}/stream`),
  };
};

export const perks = () => api<Schemas['PerkList']>('/v1/perks');
export const whitelists = () => api<Schemas['WhitelistList']>('/v1/whitelists');
export const clientConfig = () => api<ClientConfig>('/v1/config');
