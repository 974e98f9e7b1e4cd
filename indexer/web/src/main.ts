/**
 * The Settings → Account page: a wallet's Sparks from the indexer API,
 * checked against the chain, kept live by the API's event stream, and spent
 * (redeem a perk, join a whitelist) with any Wallet Standard wallet.
 * Without a wallet it still shows any address's Sparks, read-only.
 */
import { isSome, type Address, type Instruction } from '@solana/kit';
import type { IdentifierString } from '@wallet-standard/base';
import { plainMessage, refusalOf, type SparksEvent } from '@sparks/client';
import * as api from './api';
import {
  answeredWithError,
  confirmation,
  connectChain,
  eventsOf,
  Expired,
  joinInstruction,
  readSpark,
  redeemInstruction,
  sendSigned,
  signatureOf,
  signedPrograms,
  unsignedTransaction,
  type Chain,
} from './chain';
import * as wallets from './wallet';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const fmt = (n: number | bigint) => Number(n).toLocaleString('en-US');
const when = (t: number | null | undefined) => (t ? new Date(t * 1000).toLocaleString() : '–');
const short = (s: string | null | undefined) => (s ? `${s.slice(0, 4)}…${s.slice(-4)}` : '–');
const FOREVER = 9e15;
const windowText = (w: { starts_at: number; ends_at: number }) => {
  const now = Date.now() / 1000;
  if (now >= w.ends_at) return `ended ${when(w.ends_at)}`;
  if (now < w.starts_at) return `opens ${when(w.starts_at)}`;
  return w.ends_at >= FOREVER ? 'open' : `open until ${when(w.ends_at)}`;
};
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What the page shows and knows. */
const state = {
  config: null as api.ClientConfig | null,
  chain: null as Chain | null,
  wallet: null as string | null,
  summary: null as api.Summary | null,
  perks: [] as api.Perk[],
  claims: new Map<number, number>(),
  spots: [] as api.Spots['whitelists'],
  whitelists: [] as api.Whitelist[],
  nextCursor: null as string | null,
  stream: null as EventSource | null,
  /** The wait before the stream is opened again after the server closed it. */
  streamRetryMs: 1_000,
  /** When the chain was first seen ahead of the index (ms), while it is. */
  behindSince: null as number | null,
  connected: null as { wallet: wallets.Wallet; account: wallets.WalletAccount; off: () => void } | null,
  busy: false,
  /** Bumped by every `show`: answers for an earlier wallet are dropped. */
  generation: 0,
  /** The newest chain slot the page has seen: a node answering from before it is behind. */
  highestSlot: 0n,
  /** The pending re-check while the index or the node is behind. */
  recheck: undefined as ReturnType<typeof setTimeout> | undefined,
};

/** A perk's name: the last part of its URI. */
const perkName = (p: api.Perk) => p.uri.split('/').pop() || `Perk ${p.id}`;

/** A whitelist's name: the perk that grants its spots, if one does. */
function whitelistName(id: number): string {
  const address = state.whitelists.find((w) => w.id === id)?.address;
  const perk = address ? state.perks.find((p) => p.whitelist === address) : undefined;
  return perk ? perkName(perk) : `Whitelist ${id}`;
}

/** What a history row was about, beyond its kind. */
function historyDetail(e: api.HistoryEntry): string {
  switch (e.kind) {
    case 'redeem': {
      const perk = state.perks.find((p) => p.address === e.counterparty);
      return perk ? perkName(perk) : 'a perk';
    }
    case 'referral_share':
      return `from ${short(e.counterparty)}, whom you invited`;
    case 'revoke':
      return 'taken back by the admin';
    default:
      return e.source ?? '';
  }
}

function cell(row: HTMLTableRowElement, text: string, cls?: string): HTMLTableCellElement {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function message(text: string, error = false) {
  const p = $('message');
  p.textContent = text;
  p.className = error ? 'error' : 'muted';
}

/** Whether the connected wallet is the one shown: only then can it spend here. */
const canSpend = () =>
  state.connected !== null && state.connected.account.address === state.wallet && state.chain !== null;

// ---------------------------------------------------------------- reading

async function show(address: string) {
  const wallet = address.trim();
  const generation = ++state.generation;
  if (state.wallet !== wallet) {
    state.stream?.close();
    state.stream = null;
    state.behindSince = null;
    state.summary = null;
    verification('unknown', '');
  }
  state.wallet = wallet;
  $<HTMLInputElement>('wallet-input').value = wallet;
  history.replaceState(null, '', `?wallet=${encodeURIComponent(wallet)}`);
  message('Loading…');
  try {
    await refresh();
    if (generation !== state.generation) return;
    await queued(async () => {
      $('history').querySelector('tbody')!.replaceChildren();
      state.nextCursor = null;
      await loadHistory();
    });
    if (generation !== state.generation) return;
    $('content').hidden = false;
    message('');
    follow(wallet);
    void verify();
  } catch (e) {
    if (generation !== state.generation) return;
    $('content').hidden = true;
    message((e as Error).message, true);
  }
}

/** Everything but the history, read again (after a change). */
async function refresh() {
  const wallet = state.wallet!;
  const w = api.wallets(wallet);
  const [fresh, spots, claims, perks, whitelists] = await Promise.all([
    w.summary(),
    w.spots(),
    w.claims(),
    api.perks(),
    api.whitelists(),
  ]);
  // Another wallet was asked for meanwhile: these figures are not its.
  if (wallet !== state.wallet) return;
  // The stream may have brought newer figures while these were read.
  state.summary = state.summary && fresh.seq < state.summary.seq ? state.summary : fresh;
  state.spots = spots.whitelists;
  state.claims = new Map(claims.claims.map((c) => [c.perk_id, c.times_claimed]));
  state.perks = perks.perks;
  state.whitelists = whitelists.whitelists;
  renderSummary();
  renderSpots();
  renderPerks();
  void loadPending();
}

function renderSummary() {
  const s = state.summary!;
  $('balance').textContent = fmt(s.balance);
  $('balance').dataset.seq = String(s.seq);
  $('lifetime-earned').textContent = fmt(s.lifetime_earned);
  $('lifetime-spent').textContent = fmt(s.lifetime_spent);
  $('lifetime-revoked').textContent = fmt(s.lifetime_revoked);
  for (const source of ['trading', 'subscription', 'campaign', 'referral'] as const) {
    $(`source-${source}`).textContent = fmt(s.earned_by_source[source]);
  }
  $('invitee-count').textContent = fmt(s.invitee_count);
  $('referral-earnings').textContent = fmt(s.referral_earnings);
  $('referrer').textContent = s.referrer ?? 'nobody';
  $('finality').textContent = !s.exists
    ? 'No Sparks yet: your Sparks account is created with your first award.'
    : s.finalized
      ? `Final: the network can no longer undo the latest change (slot ${s.last_update_slot}).`
      : `Confirmed at slot ${s.last_update_slot}; not final yet (on mainnet about 13 seconds later): until then a dropped block could still undo the latest change.`;
}

async function loadPending() {
  const wallet = state.wallet!;
  const pending = await api
    .wallets(wallet)
    .pending()
    .catch(() => null);
  if (!pending || wallet !== state.wallet) return;
  // Awards the issuer service accepted that the index does not show yet.
  const el = $('pending');
  el.hidden = pending.count === 0;
  el.textContent = `+${fmt(pending.amount)} pending`;
  el.title = `${pending.count} award${pending.count === 1 ? '' : 's'} on the way`;
  el.dataset.count = String(pending.count);
}

function historyRow(body: HTMLTableSectionElement, e: api.HistoryEntry, at?: number) {
  const r = body.insertRow(at);
  r.dataset.seq = String(e.seq);
  cell(r, when(e.block_time));
  cell(r, e.kind.replace('_', ' '));
  cell(r, historyDetail(e));
  cell(r, (e.amount > 0 ? '+' : '') + fmt(e.amount), `num ${e.amount > 0 ? 'plus' : 'minus'}`);
  cell(r, fmt(e.balance_after), 'num');
  cell(r, short(e.signature)).title = e.signature;
  return r;
}

/** The `seq`s of the history rows shown. */
const shownSeqs = (body: HTMLTableSectionElement) =>
  new Set([...body.querySelectorAll<HTMLTableRowElement>('tr[data-seq]')].map((r) => Number(r.dataset.seq)));

async function loadHistory() {
  const wallet = state.wallet!;
  const page = await api.wallets(wallet).history(state.nextCursor);
  if (wallet !== state.wallet) return;
  const body = $('history').querySelector('tbody')!;
  body.querySelector('tr.empty')?.remove();
  const shown = shownSeqs(body);
  for (const e of page.entries) if (!shown.has(e.seq)) historyRow(body, e);
  if (!body.rows.length) {
    const r = body.insertRow();
    r.className = 'empty';
    cell(r, 'Nothing yet.').colSpan = 6;
  }
  state.nextCursor = page.next_cursor ?? null;
  $('older').hidden = !state.nextCursor;
}

/**
 * The history table's loads, one at a time: new rows (the stream and a
 * spend may both ask), older pages and a fresh start all move the table
 * and its cursor.
 */
let historyLoads: Promise<void> = Promise.resolve();
const queued = (load: () => Promise<void>) => (historyLoads = historyLoads.then(load, load));
const loadNewHistory = () => queued(fetchNewHistory);
const loadOlderHistory = () => queued(loadHistory);

/** How many pages of new rows are fetched before the history is started again from the top. */
const NEW_HISTORY_PAGES = 10;

/**
 * New history rows (above the newest shown) without reloading the page:
 * pages back until they meet a row already shown, so however many arrived
 * none is skipped; past {@link NEW_HISTORY_PAGES} the table starts again
 * from the newest rows, its "older" cursor where they end.
 */
async function fetchNewHistory() {
  const wallet = state.wallet!;
  const body = $('history').querySelector('tbody')!;
  const newest = Math.max(-1, ...shownSeqs(body));
  const fresh: api.HistoryEntry[] = [];
  let cursor: string | null = null;
  let met = false;
  for (let pages = 0; pages < NEW_HISTORY_PAGES && !met; pages++) {
    const page = await api.wallets(wallet).history(cursor);
    if (wallet !== state.wallet) return;
    fresh.push(...page.entries.filter((e) => e.seq > newest));
    cursor = page.next_cursor ?? null;
    met = !cursor || page.entries.some((e) => e.seq <= newest);
  }
  if (!fresh.length) return;
  body.querySelector('tr.empty')?.remove();
  if (!met) {
    body.replaceChildren();
    state.nextCursor = cursor;
    $('older').hidden = !cursor;
  }
  const shown = shownSeqs(body);
  fresh.filter((e) => !shown.has(e.seq)).forEach((e, i) => (historyRow(body, e, i).className = 'new'));
}

/** The API's event stream: the summary each time it changes. */
function follow(wallet: string) {
  if (state.stream) return;
  const stream = api.wallets(wallet).stream();
  state.stream = stream;
  stream.addEventListener('sparks', (event) => {
    if (state.wallet !== wallet) return;
    const summary = JSON.parse((event as MessageEvent<string>).data) as api.Summary;
    message('');
    const changed = summary.seq !== state.summary?.seq;
    state.summary = summary;
    renderSummary();
    // New figures are not the ones verified: say so until they are.
    if (changed) verification('checking', 'Checking the new figures against the chain…');
    void verify();
    if (changed) void Promise.all([refresh(), loadNewHistory()]).catch(() => {});
  });
  stream.addEventListener('unavailable', () => {
    if (state.wallet === wallet) message('The index cannot be read right now; the page updates when it can.', true);
  });
  // The browser retries a dropped stream by itself, but not one answered
  // with an error (a proxy's 502 during a deploy): open it again, later.
  stream.addEventListener('error', () => {
    if (stream.readyState !== EventSource.CLOSED || state.stream !== stream) return;
    state.stream = null;
    state.streamRetryMs = Math.min(30_000, state.streamRetryMs * 2);
    setTimeout(() => {
      if (state.wallet === wallet) follow(wallet);
    }, state.streamRetryMs);
  });
  stream.addEventListener('open', () => (state.streamRetryMs = 1_000));
}

// ----------------------------------------------------------- verification

function verification(stateName: string, text: string, attrs: Record<string, string> = {}) {
  const el = $('verification');
  el.dataset.state = stateName;
  for (const key of ['slot', 'behind']) delete el.dataset[key];
  Object.assign(el.dataset, attrs);
  el.textContent = text;
}

/** Checks again in a second (one pending check at a time). */
function recheck() {
  clearTimeout(state.recheck);
  state.recheck = setTimeout(() => void verify(), 1000);
}

let verifying = false;
/**
 * Reads the wallet's SparkAccount from the chain and compares it with what
 * the index says: the same `seq` and figures is "verified"; the chain ahead
 * is the index catching up (a warning once that lasts longer than the
 * indexer's allowed lag); the same `seq` with other figures is a mismatch.
 * The read asks for a slot no older than any seen before (`minContextSlot`):
 * a node behind the others is asked again, never believed.
 */
async function verify() {
  if (!state.summary || verifying) return;
  if (!state.chain) {
    return verification('unverified', 'Not checked against the chain: this API names no public RPC endpoint.');
  }
  verifying = true;
  try {
    const wallet = state.wallet!;
    const summary = state.summary;
    const read = await readSpark(state.chain, wallet as Address, state.highestSlot || undefined);
    if (wallet !== state.wallet || summary !== state.summary) return void setTimeout(() => void verify(), 0);
    if (read.stale) {
      verification(
        'node-behind',
        `The chain node answered from before slot ${state.highestSlot} (it is behind the others); checking again…`,
        read.slot === null ? {} : { slot: String(read.slot) },
      );
      return recheck();
    }
    const { slot, spark } = read;
    if (slot > state.highestSlot) state.highestSlot = slot;
    const chainSeq = spark?.seq ?? 0n;
    const indexSeq = BigInt(summary.seq);
    if (chainSeq > indexSeq) {
      state.behindSince ??= Date.now();
      const behind = chainSeq - indexSeq;
      const seconds = (Date.now() - state.behindSince) / 1000;
      const changes = `${behind} change${behind === 1n ? '' : 's'}`;
      const attrs = { slot: String(slot), behind: String(behind) };
      if (seconds > state.config!.max_lag_seconds) {
        verification(
          'lagging',
          `Warning: the index has been behind the chain by ${changes} for ${seconds.toFixed(1)} s, longer than the ${state.config!.max_lag_seconds} s it may lag. The chain says your balance is ${fmt(spark!.balance)} Sparks.`,
          attrs,
        );
      } else {
        verification('behind', `The index is behind the chain by ${changes} (chain at slot ${slot}); updating…`, attrs);
      }
      return recheck();
    }
    state.behindSince = null;
    if (chainSeq < indexSeq) {
      if (slot >= BigInt(summary.last_update_slot ?? 0)) {
        // The node has seen the slot of the index's latest change and has
        // not got it: the index holds changes the chain does not (another
        // cluster or program, a dropped fork it kept, a tampered row).
        verification(
          'mismatch',
          `The index does not match the chain at slot ${slot}: the index has ${indexSeq} change${indexSeq === 1n ? '' : 's'} to this account (the last at slot ${summary.last_update_slot}), the chain ${chainSeq}.`,
          { slot: String(slot) },
        );
        return;
      }
      // The node is at or past every slot seen, yet before the index's change.
      verification(
        'node-behind',
        `The chain node answered from slot ${slot}, before the index's state; checking again…`,
        { slot: String(slot) },
      );
      return recheck();
    }
    const differences: string[] = [];
    const compare = (what: string, index: number | bigint, chain: number | bigint) => {
      if (BigInt(index) !== BigInt(chain)) differences.push(`${what}: index ${fmt(index)}, chain ${fmt(chain)}`);
    };
    compare('balance', summary.balance, spark?.balance ?? 0n);
    compare('earned', summary.lifetime_earned, spark?.lifetimeEarned ?? 0n);
    compare('spent', summary.lifetime_spent, spark?.lifetimeSpent ?? 0n);
    compare('revoked', summary.lifetime_revoked, spark?.lifetimeRevoked ?? 0n);
    const sources = ['trading', 'subscription', 'campaign', 'referral'] as const;
    sources.forEach((source, i) =>
      compare(`earned from ${source}`, summary.earned_by_source[source], spark?.earnedBySource[i] ?? 0n),
    );
    compare('invitees', summary.invitee_count, spark?.inviteeCount ?? 0);
    const referrer = spark && isSome(spark.referrer) ? spark.referrer.value : null;
    if ((summary.referrer ?? null) !== referrer) {
      differences.push(`referrer: index ${summary.referrer ?? 'none'}, chain ${referrer ?? 'none'}`);
    }
    if (differences.length) {
      verification('mismatch', `The index does not match the chain at slot ${slot}: ${differences.join('; ')}.`, {
        slot: String(slot),
      });
    } else {
      verification('verified', `✓ Verified on chain at slot ${slot}`, { slot: String(slot) });
    }
  } catch (e) {
    verification('unknown', `Could not read the chain to verify: ${(e as Error).message}`);
  } finally {
    verifying = false;
  }
}

// ----------------------------------------------------------------- spending

function renderPerks() {
  const s = state.summary;
  if (!s) return;
  const body = $('perks').querySelector('tbody')!;
  body.replaceChildren();
  for (const p of state.perks) {
    const r = body.insertRow();
    r.dataset.perk = String(p.id);
    cell(r, perkName(p));
    cell(r, p.kind.replace('_', ' '));
    cell(r, fmt(p.cost), 'num');
    cell(r, p.max_supply ? fmt(Math.max(0, p.max_supply - p.claimed)) : '∞', 'num');
    const mine = state.claims.get(p.id) ?? 0;
    cell(r, p.per_wallet_limit ? `${mine}/${p.per_wallet_limit}` : 'no limit', 'num');
    cell(r, windowText(p.window));
    const you = r.insertCell();
    const now = Date.now() / 1000;
    const why = !s.exists
      ? 'you have no Sparks yet'
      : !p.active
        ? 'no longer offered'
        : p.max_supply && p.claimed >= p.max_supply
          ? 'sold out'
          : now < p.window.starts_at || now >= p.window.ends_at
            ? 'outside its window'
            : p.per_wallet_limit && mine >= p.per_wallet_limit
              ? 'your limit is reached'
              : s.balance < p.cost
                ? 'not enough Sparks'
                : null;
    if (canSpend()) {
      const button = document.createElement('button');
      button.className = 'small primary';
      button.dataset.action = 'redeem';
      button.textContent = `Redeem for ${fmt(p.cost)}`;
      // A redeem the page knows would be refused is not offered: its reason
      // shows instead. What the page cannot know (another wallet took the
      // last one meanwhile) the program refuses, and the page says so.
      button.title = why ? `Not possible: ${why}` : `Spend ${fmt(p.cost)} Sparks; ${fmt(s.balance - p.cost)} left`;
      button.disabled = state.busy || why !== null;
      button.addEventListener('click', () =>
        act(
          `Redeem “${perkName(p)}” for ${fmt(p.cost)} Sparks`,
          (chain, wallet) => redeemInstruction(chain, wallet, p.id, p.cost, p.whitelist),
          sparkIndexed,
        ),
      );
      you.append(button);
      const note = [mine ? `claimed ×${mine}` : '', why ?? ''].filter(Boolean).join(' · ');
      if (note) {
        const span = document.createElement('span');
        span.className = 'muted hint';
        span.textContent = ` ${note}`;
        you.append(span);
      }
    } else {
      you.textContent = mine ? `claimed ×${mine}` : (why ?? 'can redeem');
    }
  }
}

function renderSpots() {
  const summary = state.summary;
  if (!summary) return;
  const body = $('whitelists').querySelector('tbody')!;
  body.replaceChildren();
  const terms = new Map(state.whitelists.map((w) => [w.id, w]));
  const net = summary.lifetime_earned - summary.lifetime_revoked;
  const held = new Set(state.spots.map((s) => s.whitelist_id));
  for (const s of state.spots) {
    const r = body.insertRow();
    r.dataset.whitelist = String(s.whitelist_id);
    cell(r, whitelistName(s.whitelist_id));
    cell(r, String(s.spots_left), 'num');
    cell(r, String(s.spots_used), 'num');
    cell(r, windowText(s.window));
    const action = r.insertCell();
    // Spots from a perk or the admin still leave the join open (once, within
    // the whitelist's spots per wallet), as the program allows.
    const w = terms.get(s.whitelist_id);
    const joinable = w && w.min_lifetime_sparks_to_join > 0 && s.spots_granted < w.spots_per_wallet;
    if (joinable && !s.obtained_via.includes('join')) joinCell(action, w, net);
  }
  for (const w of state.whitelists) {
    if (held.has(w.id) || w.min_lifetime_sparks_to_join === 0) continue;
    const r = body.insertRow();
    r.dataset.whitelist = String(w.id);
    r.className = 'joinable';
    cell(r, whitelistName(w.id));
    cell(r, '0', 'num');
    cell(r, '0', 'num');
    cell(r, windowText(w.window));
    joinCell(r.insertCell(), w, net);
  }
  if (!body.rows.length) cell(body.insertRow(), 'No spots yet.').colSpan = 5;
}

/** A whitelist's Join button, or why there is none. */
function joinCell(action: HTMLTableCellElement, w: api.Whitelist, net: number) {
  const qualifies = net >= w.min_lifetime_sparks_to_join;
  if (!(canSpend() && w.open && qualifies)) {
    action.className = 'muted';
    action.textContent = !w.open
      ? 'closed'
      : qualifies
        ? 'you qualify: connect this wallet to join'
        : `needs ${fmt(w.min_lifetime_sparks_to_join)} lifetime Sparks`;
    return;
  }
  const button = document.createElement('button');
  button.className = 'small primary';
  button.dataset.action = 'join';
  button.textContent = 'Join';
  button.disabled = state.busy;
  button.addEventListener('click', () =>
    act(
      `Join “${whitelistName(w.id)}”`,
      (chain, wallet) => joinInstruction(chain, wallet, w.id),
      async (_chain, wallet) => async () => {
        const spots = await api.wallets(wallet).spots();
        return spots.whitelists.some((s) => s.whitelist_id === w.id && s.obtained_via.includes('join'));
      },
    ),
  );
  action.append(button);
}

/**
 * Indexed once the index holds the wallet's SparkAccount at least as the
 * transaction left it: the `seq` its event carries (read from the chain
 * when the node cannot return the transaction yet).
 */
async function sparkIndexed(
  chain: Chain,
  wallet: Address,
  events: SparksEvent[] | null,
  landed: bigint,
  before: bigint,
): Promise<() => Promise<boolean>> {
  const redeemed = events?.find((e) => e.name === 'perkRedeemed');
  let target: bigint;
  if (redeemed?.name === 'perkRedeemed') {
    target = redeemed.data.account.seq;
  } else {
    // No node could return the transaction: read the account as of its slot.
    const read = await readSpark(chain, wallet, landed);
    target = read.stale ? before + 1n : (read.spark?.seq ?? 0n);
  }
  return async () => {
    if (state.wallet === wallet && BigInt(state.summary?.seq ?? 0) >= target) return true;
    const summary = await api.wallets(wallet).summary();
    if (state.wallet === wallet) state.summary = summary;
    return BigInt(summary.seq) >= target;
  };
}

function step(text: string, stepState: 'active' | 'done' | 'failed' = 'active') {
  const li = document.createElement('li');
  li.dataset.state = stepState;
  li.textContent = text;
  $('progress').append(li);
  return (next: string, nextState: 'done' | 'failed' = 'done') => {
    li.textContent = next;
    li.dataset.state = nextState;
  };
}

/**
 * One spend from start to the index: the wallet signs, the page sends and
 * follows it (sent → confirmed → indexed), and shows a refusal by name.
 */
async function act(
  title: string,
  build: (chain: Chain, wallet: Address) => Promise<Instruction>,
  indexed: (
    chain: Chain,
    wallet: Address,
    events: SparksEvent[] | null,
    landed: bigint,
    /** The account's `seq` the page showed when the spend began. */
    before: bigint,
  ) => Promise<() => Promise<boolean>>,
) {
  const connected = state.connected;
  const chain = state.chain;
  if (!connected || !chain || state.busy) return;
  state.busy = true;
  renderPerks();
  renderSpots();
  $('progress-section').hidden = false;
  $('progress').replaceChildren();
  $('progress').dataset.outcome = 'running';
  delete $('progress').dataset.error;
  $('progress-title').textContent = title;
  const wallet = connected.account.address as Address;
  const before = BigInt(state.summary?.seq ?? 0);
  const cluster = state.config!.cluster as IdentifierString;
  let current = step('Waiting for your wallet to sign…');
  // Once sent, a failure to follow it does not mean it did not land.
  let sent: string | null = null;
  // What the signed transaction holds, in order: a refusal is read by the failing instruction's index.
  let instructions: readonly { programAddress: Address }[] = [];
  try {
    const unsigned = await unsignedTransaction(chain, wallet, [await build(chain, wallet)]);
    const signed = await wallets.signTransaction(connected.wallet, connected.account, cluster, unsigned.bytes);
    instructions = signedPrograms(signed);
    const signature = signatureOf(signed);
    current('Signed in your wallet');
    current = step('Sending…');
    try {
      await sendSigned(chain, signed);
    } catch (error) {
      // Refused by the node (a failed simulation): it was never forwarded.
      if (answeredWithError(error)) throw error;
      // No answer: it may have reached the node. Followed as sent.
    }
    sent = signature;
    current(`Sent: ${short(signature)}`);
    current = step('Waiting for confirmation…');
    const { slot, err } = await confirmation(chain, signed, unsigned.lastValidBlockHeight);
    if (err) {
      // Refused by the chain itself: nothing of it happened.
      sent = null;
      throw Object.assign(new Error('the transaction failed on chain'), { cause: err });
    }
    current(`Confirmed at slot ${slot}`);
    if (slot > state.highestSlot) state.highestSlot = slot;
    current = step('Waiting for the index…');
    const isIndexed = await indexed(chain, wallet, await eventsOf(chain, signature), slot, before);
    const deadline = Date.now() + 30_000;
    while (!(await isIndexed()) && Date.now() < deadline) await sleep(300);
    if (!(await isIndexed())) {
      current('Landed on chain, not indexed yet: the page shows it when the index catches up', 'failed');
      $('progress').dataset.outcome = 'unindexed';
    } else if (state.wallet !== wallet) {
      // The wallet switched accounts meanwhile: the page shows another one.
      current('Indexed');
      $('progress').dataset.outcome = 'done';
    } else {
      // The figures first, then "done": what the step says is on the page.
      await Promise.all([refresh(), loadNewHistory()]).catch(() => {});
      current(`Indexed: your balance is now ${fmt(state.summary!.balance)} Sparks`);
      $('progress').dataset.outcome = 'done';
    }
  } catch (e) {
    // A refusal (the program's, Anchor's checks, the network's) means it did not happen.
    const refusal = refusalOf(e, instructions, chain.program);
    if (e instanceof Expired || refusal) sent = null;
    const text = refusal
      ? refusal.origin === 'network'
        ? `Refused by the network: ${refusal.words}`
        : `Refused by the program: ${refusal.name}. ${refusal.words}`
      : sent
        ? `Could not follow it (${plainMessage(e)}). It may have landed: check ${sent} before trying again.`
        : e instanceof Expired
          ? `It expired before landing (the network was too busy, or the wallet took too long): nothing was spent. Try again.`
          : `Failed (${plainMessage(e)}): nothing was spent.`;
    current(text, 'failed');
    $('progress').dataset.outcome = refusal || !sent ? 'failed' : 'unknown';
    if (refusal) $('progress').dataset.error = refusal.name;
    // A refusal often means the page's figures were old (a perk sold out meanwhile).
    if (refusal) void refresh().catch(() => {});
  } finally {
    state.busy = false;
    renderPerks();
    renderSpots();
    void verify();
  }
}

// ------------------------------------------------------------------ wallets

function renderWalletBar() {
  const cluster = state.config?.cluster as IdentifierString | undefined;
  const available = cluster ? wallets.solanaWallets(cluster) : [];
  const connect = $<HTMLButtonElement>('connect');
  connect.hidden = state.connected !== null;
  connect.disabled = available.length === 0;
  connect.title = available.length ? '' : `No Solana wallet for ${cluster ?? 'this cluster'} found in this browser`;
  $('disconnect').hidden = state.connected === null;
  const account = $('wallet-account');
  account.hidden = state.connected === null;
  account.textContent = state.connected
    ? `${state.connected.wallet.name}: ${short(state.connected.account.address)}`
    : '';
  account.title = state.connected?.account.address ?? '';
}

async function connectTo(wallet: wallets.Wallet) {
  const cluster = state.config!.cluster as IdentifierString;
  $('wallet-choices').hidden = true;
  try {
    const account = await wallets.connect(wallet, cluster);
    if (!account) throw new Error('the wallet shared no account');
    const off = wallets.onAccountsChanged(wallet, (accounts) => {
      // An account that cannot sign on this cluster is as good as none.
      const next = accounts.find((a) => a.chains.includes(cluster));
      if (!next) return void disconnected();
      if (state.connected) state.connected.account = next;
      renderWalletBar();
      void show(next.address);
    });
    state.connected = { wallet, account, off };
    renderWalletBar();
    await show(account.address);
  } catch (e) {
    message(`Could not connect ${wallet.name}: ${(e as Error).message}`, true);
  }
}

function disconnected() {
  state.connected?.off();
  state.connected = null;
  renderWalletBar();
  if (state.summary) {
    renderPerks();
    renderSpots();
  }
}

$('connect').addEventListener('click', () => {
  const available = wallets.solanaWallets(state.config!.cluster as IdentifierString);
  if (available.length === 1) return void connectTo(available[0]!);
  const choices = $('wallet-choices');
  choices.replaceChildren(
    ...available.map((w) => {
      const b = document.createElement('button');
      b.textContent = w.name;
      b.addEventListener('click', () => void connectTo(w));
      return b;
    }),
  );
  choices.hidden = false;
});

$('disconnect').addEventListener('click', async () => {
  const wallet = state.connected?.wallet;
  disconnected();
  if (wallet) await wallets.disconnect(wallet).catch(() => {});
});

$('wallet-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void show($<HTMLInputElement>('wallet-input').value);
});
$('older').addEventListener('click', () => void loadOlderHistory().catch(() => {}));

async function start() {
  state.config = await api.clientConfig().catch(() => null);
  if (state.config?.rpc_url) state.chain = connectChain(state.config.rpc_url, state.config.program_id);
  wallets.onWalletsChanged(renderWalletBar);
  renderWalletBar();
  // Verify again now and then: a change the stream did not bring still shows.
  // Neither this nor the pending awards are asked for while the tab is hidden.
  setInterval(() => !document.hidden && void verify(), 10_000);
  setInterval(() => state.wallet && !document.hidden && void loadPending(), 5_000);
  // The stream follows this wallet's Sparks. What others change (a mint
  // using one of its spots, a perk selling out) is read again whenever the
  // page is looked at again, e.g. back from the mint's own site.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && state.summary && !state.busy) void refresh().catch(() => {});
  });
  const initial = new URLSearchParams(location.search).get('wallet');
  if (initial) await show(initial);
  else message('Enter a wallet address, or connect a wallet.');
  document.body.dataset.ready = 'true';
}

void start();
