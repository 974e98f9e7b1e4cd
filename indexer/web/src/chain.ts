/**
 * The chain, read and written directly over JSON-RPC (the URL the API's
 * /v1/config gives): the wallet's SparkAccount to verify the index against,
 * and the user's own transactions (redeem_perk, join_whitelist), built with
 * the generated client, signed by the wallet and sent from here.
 */
import {
  appendTransactionMessageInstructions,
  compileTransaction,
  createNoopSigner,
  createSolanaRpc,
  createTransactionMessage,
  getBase64Encoder,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  getTransactionDecoder,
  getTransactionEncoder,
  isSolanaError,
  pipe,
  SOLANA_ERROR__JSON_RPC__SERVER_ERROR_MIN_CONTEXT_SLOT_NOT_REACHED,
  setTransactionMessageFeePayer,
  setTransactionMessageLifetimeUsingBlockhash,
  type Address,
  type Instruction,
  type Rpc,
  type Signature,
  type SolanaRpcApi,
} from '@solana/kit';
import {
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

export function connectChain(url: string, program: string): Chain {
  return { rpc: createSolanaRpc(url), program: program as Address };
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
    if (!value) return { stale: false, slot: context.slot, spark: null };
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

/** The unsigned transaction's wire bytes, for the wallet to sign; the wallet pays. */
export async function unsignedTransaction(
  chain: Chain,
  payer: Address,
  instructions: Instruction[],
): Promise<Uint8Array> {
  const { value: blockhash } = await chain.rpc.getLatestBlockhash({ commitment: 'confirmed' }).send();
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayer(payer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
    (m) => appendTransactionMessageInstructions(instructions, m),
  );
  return new Uint8Array(getTransactionEncoder().encode(compileTransaction(message)));
}

/** Sends the wallet-signed bytes (a failed simulation throws, with the program's error in its causes). */
export async function sendSigned(chain: Chain, signed: Uint8Array): Promise<Signature> {
  const transaction = getTransactionDecoder().decode(signed);
  await chain.rpc
    .sendTransaction(getBase64EncodedWireTransaction(transaction), {
      encoding: 'base64',
      preflightCommitment: 'confirmed',
    })
    .send();
  return getSignatureFromTransaction(transaction);
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

/** Waits for `confirmed`; the slot it landed in, or the transaction's error. */
export async function confirmation(
  chain: Chain,
  signature: Signature,
  within_ms = 60_000,
): Promise<{ slot: bigint; err: unknown }> {
  const deadline = Date.now() + within_ms;
  while (Date.now() < deadline) {
    const { value } = await chain.rpc.getSignatureStatuses([signature]).send();
    const status = value[0];
    if (status && (status.confirmationStatus === 'confirmed' || status.confirmationStatus === 'finalized')) {
      return { slot: status.slot, err: status.err };
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
  throw new Error(`not confirmed within ${within_ms / 1000} s; it may still land: check ${signature}`);
}
