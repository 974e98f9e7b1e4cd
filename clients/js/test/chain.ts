/**
 * The test's view of a real chain: a JSON-RPC URL (the local chain the Rust
 * driver starts, tests/tests/js_client.rs), funded signers, and a send that
 * waits for `confirmed`, the way an app does it with @solana/kit.
 */
import {
  address,
  appendTransactionMessageInstructions,
  createSolanaRpc,
  createTransactionMessage,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  generateKeyPairSigner,
  lamports,
  pipe,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
  type Address,
  type Instruction,
  type KeyPairSigner,
  type Signature,
  type TransactionSigner,
} from '@solana/kit';
import { transactionComputeUnitLimit } from '../src/index';

const url = process.env.SPARKS_RPC_URL;
if (!url) throw new Error('SPARKS_RPC_URL is not set: run through `cargo test -p sparks-tests --test js_client`');
export const rpc = createSolanaRpc(url);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `signature` is confirmed; returns its error (`null` when it succeeded). */
export async function confirmed(signature: Signature): Promise<unknown> {
  for (let i = 0; i < 300; i++) {
    const { value } = await rpc.getSignatureStatuses([signature]).send();
    const status = value[0];
    if (status && (status.confirmationStatus === 'confirmed' || status.confirmationStatus === 'finalized')) {
      return status.err;
    }
    await sleep(100);
  }
  throw new Error(`${signature} was not confirmed within 30 s`);
}

/** A new key with `sol` SOL. */
export async function funded(sol = 10): Promise<KeyPairSigner> {
  const signer = await generateKeyPairSigner();
  const signature = await rpc.requestAirdrop(signer.address, lamports(BigInt(sol) * 1_000_000_000n)).send();
  await confirmed(signature);
  return signer;
}

/** The compute budget program's SetComputeUnitLimit. */
function computeUnitLimitInstruction(units: number): Instruction {
  const data = new Uint8Array(5);
  data[0] = 2;
  new DataView(data.buffer).setUint32(1, units, true);
  return { programAddress: address('ComputeBudget111111111111111111111111111111'), data };
}

/**
 * Signs with every signer the instructions name, sends with preflight
 * (`skipPreflight` to let the chain itself refuse it), waits for
 * `confirmed`; throws the simulation's error or the transaction's `err`.
 * As an app does, the transaction asks for the units `transactionComputeUnitLimit`
 * gives its instructions: the chain runs the bytecode and meters them, so
 * a limit below what an instruction uses fails the send.
 */
export async function send(
  payer: TransactionSigner,
  instructions: Instruction[],
  { skipPreflight = false } = {},
): Promise<Signature> {
  const { value: blockhash } = await rpc.getLatestBlockhash({ commitment: 'confirmed' }).send();
  const budget = computeUnitLimitInstruction(await transactionComputeUnitLimit(instructions));
  const message = pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayerSigner(payer, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(blockhash, m),
    (m) => appendTransactionMessageInstructions([budget, ...instructions], m),
  );
  const transaction = await signTransactionMessageWithSigners(message);
  const signature = getSignatureFromTransaction(transaction);
  await rpc
    .sendTransaction(getBase64EncodedWireTransaction(transaction), {
      encoding: 'base64',
      skipPreflight,
      preflightCommitment: 'confirmed',
    })
    .send();
  const err = await confirmed(signature);
  if (err) throw Object.assign(new Error(`${signature} failed on chain`), { cause: err, signature });
  return signature;
}

/** The confirmed transaction, as `getTransaction` answers in `json` encoding. */
export async function transaction(signature: Signature) {
  const tx = await rpc
    .getTransaction(signature, { commitment: 'confirmed', encoding: 'json', maxSupportedTransactionVersion: 0 })
    .send();
  if (!tx) throw new Error(`${signature}: no such transaction`);
  return tx;
}

export async function balanceOf(address: Address): Promise<bigint> {
  return (await rpc.getBalance(address, { commitment: 'confirmed' }).send()).value;
}
