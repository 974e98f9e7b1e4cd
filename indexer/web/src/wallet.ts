/**
 * Wallet Standard: any wallet that registers itself (browser extensions,
 * mobile adapters, the tests' wallet) and can sign Solana transactions for
 * the API's cluster. The page asks it to sign only; it sends itself, so it
 * sees the program's refusals and follows the transaction to the index.
 */
import { getWallets } from '@wallet-standard/app';
import type { IdentifierString, Wallet, WalletAccount } from '@wallet-standard/base';
import {
  StandardConnect,
  StandardDisconnect,
  StandardEvents,
  type StandardConnectFeature,
  type StandardDisconnectFeature,
  type StandardEventsFeature,
} from '@wallet-standard/features';
import { SolanaSignTransaction, type SolanaSignTransactionFeature } from '@solana/wallet-standard-features';

export type { Wallet, WalletAccount };

const registry = getWallets();

/** Wallets that can connect and sign transactions on `chain`. */
export function solanaWallets(chain: IdentifierString): Wallet[] {
  return registry
    .get()
    .filter((w) => StandardConnect in w.features && SolanaSignTransaction in w.features && w.chains.includes(chain));
}

/** Calls `changed` whenever a wallet registers or leaves; returns the unsubscriber. */
export function onWalletsChanged(changed: () => void): () => void {
  const off = [registry.on('register', changed), registry.on('unregister', changed)];
  return () => off.forEach((f) => f());
}

/** Asks the wallet to connect; its first account able to sign on `chain` (`null`: none can). */
export async function connect(wallet: Wallet, chain: IdentifierString): Promise<WalletAccount | null> {
  const feature = wallet.features[StandardConnect] as StandardConnectFeature[typeof StandardConnect];
  const { accounts } = await feature.connect();
  return accounts.find((a) => a.chains.includes(chain)) ?? null;
}

export async function disconnect(wallet: Wallet): Promise<void> {
  const feature = wallet.features[StandardDisconnect] as
    StandardDisconnectFeature[typeof StandardDisconnect] | undefined;
  await feature?.disconnect();
}

/** Follows the wallet's account changes (the user switched accounts, or locked it). */
export function onAccountsChanged(wallet: Wallet, changed: (accounts: readonly WalletAccount[]) => void): () => void {
  const feature = wallet.features[StandardEvents] as StandardEventsFeature[typeof StandardEvents] | undefined;
  if (!feature) return () => {};
  return feature.on('change', ({ accounts }) => {
    if (accounts) changed(accounts);
  });
}

/** The wallet signs the transaction's wire bytes; the signed bytes. */
export async function signTransaction(
  wallet: Wallet,
  account: WalletAccount,
  chain: IdentifierString,
  transaction: Uint8Array,
): Promise<Uint8Array> {
  const feature = wallet.features[SolanaSignTransaction] as SolanaSignTransactionFeature[typeof SolanaSignTransaction];
  const [output] = await feature.signTransaction({ account, transaction, chain });
  if (!output) throw new Error('the wallet returned no signed transaction');
  return output.signedTransaction;
}
