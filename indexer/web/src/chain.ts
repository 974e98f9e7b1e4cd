/**
 * The chain, read and written directly over JSON-RPC (the URL the API's
 * /v1/config gives): the wallet's SparkAccount to verify the index against,
 * and the user's own transactions (redeem_perk, join_whitelist), built with
 * the generated client, signed by the wallet and sent from here.
 */
import {
  appendTransactionMessageInstructions,
  compileTransaction,
  createDefaultRpcTransport,
  createNoopSigner,
  createSolanaRpcFromTransport,
  createTransactionMessage,
  decompileTransactionMessage,
  getBase64Encoder,
  getBase64EncodedWireTransaction,
  getCompiledTransactionMessageDecoder,
  getSignatureFromTransaction,
  getTransactionDecoder,
  getTransactionEncoder,
  isSolanaError,
  isWritableRole,
  pipe,
  SOLANA_ERROR__JSON_RPC__SERVER_ERROR_MIN_CONTEXT_SLOT_NOT_REACHED,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  type Address,
  type Instruction,
  type Rpc,
  type RpcTransport,
  type Signature,
  type SolanaRpcApi,
} from '@solana/kit';
import { getSetComputeUnitLimitInstruction, getSetComputeUnitPriceInstruction } from '@solana-program/compute-budget';
import {
  transactionComputeUnitLimit,
  findEntryPda,
  findPerkPda,
  findSparkPda,
  findWhitelistPda,
  getJoinWhitelistInstructionAsync,
  getRedeemPerkInstructionAsync,
  getSparkAccountDecoder,
  sparksEventsOf,
  type SparkAccount,
  type SparksEvent,
} from '@sparks/client';

export type Chain = { rpc: Rpc<SolanaRpcApi>; program: Address };

/** A request the node has not answered by then is given up (and asked again later), never waited on forever. */
const RPC_TIMEOUT_MS = 15_000;

export function connectChain(url: string, program: string): Chain {
  const transport = createDefaultRpcTransport({ url });
  const timed: RpcTransport = (request) => {
    const timeout = AbortSignal.timeout(RPC_TIMEOUT_MS);
    return transport({ ...request, signal: request.signal ? AbortSignal.any([request.signal, timeout]) : timeout });
  };
  return { rpc: createSolanaRpcFromTransport(timed), program: program as Address };
}

/**
 * The wallet's SparkAccount at the slot the node answered for (`spark`
 * `null`: none yet), or `stale` when the node is behind `minContextSlot`:
 * providers balance many nodes behind one URL, and one that has not caught
 * up answers successfully with an older state (or refuses the slot).
 */
export async function readSpark(
  chain: Chain,
  wallet: Address,
  minContextSlot?: bigint,
): Promise<{ stale: true; slot: bigint | null } | { stale: false; slot: bigint; spark: SparkAccount | null }> {
  const [address] = await findSparkPda({ owner: wallet }, { programAddress: chain.program });
  try {
    const { context, value } = await chain.rpc
      .getAccountInfo(address, { commitment: 'confirmed', encoding: 'base64', minContextSlot })
      .send();
    if (minContextSlot !== undefined && context.slot < minContextSlot) return { stale: true, slot: context.slot };
    // Anyone may send lamports to the address before the program creates the
    // account there (it allows for that): a system account is no SparkAccount.
    if (!value || value.owner !== chain.program) return { stale: false, slot: context.slot, spark: null };
    const spark = getSparkAccountDecoder().decode(getBase64Encoder().encode(value.data[0]));
    return { stale: false, slot: context.slot, spark };
  } catch (error) {
    if (isSolanaError(error, SOLANA_ERROR__JSON_RPC__SERVER_ERROR_MIN_CONTEXT_SLOT_NOT_REACHED)) {
      return { stale: true, slot: null };
    }
    throw error;
  }
}

/** `maxCost` is the cost the user saw: a price raised since is refused (CostAboveMax). */
export const redeemInstruction = async (
  chain: Chain,
  wallet: Address,
  perkId: number,
  maxCost: number,
  whitelist: string | null | undefined,
) => {
  const owner = createNoopSigner(wallet);
  const programAddress = chain.program;
  const [perk] = await findPerkPda({ id: perkId }, { programAddress });
  // An NFT-whitelist perk grants its spot on the whitelist it names.
  const spot = whitelist
    ? {
        whitelist: whitelist as Address,
        whitelistEntry: (await findEntryPda({ whitelist: whitelist as Address, wallet }, { programAddress }))[0],
      }
    : {};
  return getRedeemPerkInstructionAsync({ owner, payer: owner, perk, maxCost, ...spot }, { programAddress });
};

export const joinInstruction = async (chain: Chain, wallet: Address, whitelistId: number) => {
  const owner = createNoopSigner(wallet);
  const [whitelist] = await findWhitelistPda({ id: whitelistId }, { programAddress: chain.program });
  return getJoinWhitelistInstructionAsync({ owner, payer: owner, whitelist }, { programAddress: chain.program });
};

/** The most the page offers per compute unit: a redeem's ~65,000 units at this cost 0.0000033 SOL. */
export const MAX_MICRO_LAMPORTS_PER_UNIT = 50_000n;

/**
 * What recent transactions writing the same accounts paid per compute unit
 * (the 75th percentile of the node's recent slots, capped): on a busy
 * cluster a transaction without a priority fee waits behind those with one.
 * 0 when the node cannot say.
 */
export async function priorityFee(chain: Chain, instructions: readonly Instruction[]): Promise<bigint> {
  const writable = [
    ...new Set(
      instructions.flatMap((i) => (i.accounts ?? []).filter((a) => isWritableRole(a.role)).map((a) => a.address)),
    ),
  ];
  const fees = await chain.rpc
    .getRecentPrioritizationFees(writable.slice(0, 128))
    .send()
    .catch(() => []);
  const paid = fees.map((f) => f.prioritizationFee).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (!paid.length) return 0n;
  const p75 = paid[Math.floor(paid.length * 0.75)]!;
  return p75 < MAX_MICRO_LAMPORTS_PER_UNIT ? p75 : MAX_MICRO_LAMPORTS_PER_UNIT;
}

/**
 * The unsigned transaction's wire bytes, for the wallet to sign (the wallet
 * pays), and the last block height at which it can land. The user's
 * `instructions` come after a compute-unit limit (the units the SBF VM
 * measured for each, as @sparks/client's `transactionComputeUnitLimit` makes them) and,
 * when recent transactions paid one, a priority fee.
 */
export async function unsignedTransaction(
  chain: Chain,
  payer: Address,
  instructions: Instruction[],
): Promise<{ bytes: Uint8Array; lastValidBlockHeight: bigint }> {
  const [{ value: blockhash }, price] = await Promise.all([
    chain.rpc.getLatestBlockhash({ commitment: 'confirmed' }).send(),
    priorityFee(chain, instructions),
  ]);
  const units = await transactionComputeUnitLimit(instructions, {
    programAddress: chain.program,
    budgetInstructions: price > 0n ? 2 : 1,
  });
  const all: Instruction[] = [
    getSetComputeUnitLimitInstruction({ units }),
    ...(price > 0n ? [getSetComputeUnitPriceInstruction({ microLamports: price })] : []),
    ...instructions,
  ];
  // Legacy: every wallet signs it (a version-0 message gains nothing
  // without lookup tables, and some wallets sign only legacy ones).
  const message = pipe(
    createTransactionMessage({ version: 'legacy' }),
    (m) => setTransactionMessageFeePayer(payer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
    (m) => appendTransactionMessageInstructions(all, m),
  );
  const bytes = new Uint8Array(getTransactionEncoder().encode(compileTransaction(message)));
  return { bytes, lastValidBlockHeight: blockhash.lastValidBlockHeight };
}

/**
 * The program each instruction of the signed transaction calls, in order: a
 * wallet may add instructions (its own priority fee) before signing, so a
 * failing instruction's index is read against what was signed.
 */
export function signedPrograms(signed: Uint8Array): { programAddress: Address }[] {
  const compiled = getCompiledTransactionMessageDecoder().decode(getTransactionDecoder().decode(signed).messageBytes);
  const instructions: readonly { programAddress: Address }[] = decompileTransactionMessage(compiled).instructions;
  return instructions.map((i) => ({ programAddress: i.programAddress }));
}

/** The signed transaction's signature: known before it is sent, so it can be followed whatever the send says. */
export const signatureOf = (signed: Uint8Array): Signature =>
  getSignatureFromTransaction(getTransactionDecoder().decode(signed));

const wire = (signed: Uint8Array) => getBase64EncodedWireTransaction(getTransactionDecoder().decode(signed));

/**
 * Sends the wallet-signed bytes after a simulation (a refusal throws, with
 * the program's error in its causes).
 */
export async function sendSigned(chain: Chain, signed: Uint8Array): Promise<void> {
  await chain.rpc.sendTransaction(wire(signed), { encoding: 'base64', preflightCommitment: 'confirmed' }).send();
}

/**
 * Whether the node answered a call with a JSON-RPC error (-32768..-32000):
 * for a send, the transaction was refused, not forwarded. A transport
 * failure (timeout, 429, 5xx, the network) leaves it unknown.
 */
export function answeredWithError(error: unknown): boolean {
  if (!isSolanaError(error)) return false;
  const code = error.context.__code as number;
  return code >= -32768 && code <= -32000;
}

/** The transaction's blockhash expired before it landed: it never will, and nothing of it happened. */
export class Expired extends Error {
  constructor(readonly signature: Signature) {
    super(`it expired before landing; nothing was spent`);
  }
}

/**
 * The program's events in a confirmed transaction; a node that has not seen
 * it yet answers `null`, so it is asked a few times (`null` in the end).
 */
export async function eventsOf(chain: Chain, signature: Signature): Promise<SparksEvent[] | null> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const transaction = await chain.rpc
      .getTransaction(signature, { commitment: 'confirmed', encoding: 'json', maxSupportedTransactionVersion: 0 })
      .send()
      .catch(() => null);
    if (transaction) return sparksEventsOf(transaction, chain.program);
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  return null;
}

/** How often a transaction not seen yet is sent again: busy leaders drop transactions. */
const RESEND_EVERY_MS = 2_000;

type Status = { slot: bigint; err: unknown; confirmationStatus: string | null };
const isConfirmed = (status: Status | null | undefined): status is Status =>
  status?.confirmationStatus === 'confirmed' || status?.confirmationStatus === 'finalized';

/**
 * Waits for `confirmed`: the slot it landed in, or the transaction's error.
 * Until then the same signed bytes are sent again now and then (no
 * simulation), a failed status read (a 429, a node restarting) is retried,
 * and once the chain is past the blockhash's last valid height without it,
 * it throws {@link Expired}.
 */
export async function confirmation(
  chain: Chain,
  signed: Uint8Array,
  lastValidBlockHeight: bigint,
  within_ms = 120_000,
): Promise<{ slot: bigint; err: unknown }> {
  const signature = signatureOf(signed);
  const deadline = Date.now() + within_ms;
  let resent = Date.now();
  while (Date.now() < deadline) {
    const status = await chain.rpc
      .getSignatureStatuses([signature])
      .send()
      .then(
        ({ value }) => value[0],
        () => undefined,
      );
    if (isConfirmed(status)) return { slot: status.slot, err: status.err };
    if (status === null) {
      // Height and slot from one node: past the last valid height there, the
      // blockhash has expired. Then one last look, from a node at least as
      // far on (one behind the others may not have the transaction yet).
      const epoch = await chain.rpc
        .getEpochInfo({ commitment: 'confirmed' })
        .send()
        .catch(() => null);
      if (epoch && epoch.blockHeight > lastValidBlockHeight) {
        const last = await chain.rpc
          .getSignatureStatuses([signature], { searchTransactionHistory: true })
          .send()
          .catch(() => null);
        if (last && last.context.slot >= epoch.absoluteSlot) {
          const seen = last.value[0];
          if (!seen) throw new Expired(signature);
          if (isConfirmed(seen)) return { slot: seen.slot, err: seen.err };
        }
      } else if (Date.now() - resent >= RESEND_EVERY_MS) {
        resent = Date.now();
        await chain.rpc
          .sendTransaction(wire(signed), { encoding: 'base64', skipPreflight: true, maxRetries: 0n })
          .send()
          .catch(() => {});
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
  throw new Error(`not confirmed within ${within_ms / 1000} s; it may still land: check ${signature}`);
}
