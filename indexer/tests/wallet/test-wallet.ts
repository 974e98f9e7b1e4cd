/**
 * A Wallet Standard wallet for the browser tests, backed by a fixed test
 * keypair the test passes in. It lives with the tests and is injected into
 * the page by WebDriver (indexer/tests/page.rs); the served bundle never
 * contains it. `window.sparksTestWallet` lets the test switch accounts,
 * slow signing down (to catch a redeem in progress) or refuse to sign.
 */
import {
  createKeyPairFromBytes,
  getAddressFromPublicKey,
  getTransactionDecoder,
  getTransactionEncoder,
  partiallySignTransaction,
  type Address,
} from '@solana/kit';
import { registerWallet } from '@wallet-standard/wallet';
import type { IdentifierString, Wallet, WalletAccount } from '@wallet-standard/base';

type Listener = (properties: { accounts?: readonly WalletAccount[] }) => void;

const ICON =
  'data:image/svg+xml;base64,' +
  btoa(
    '<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><rect width="32" height="32" rx="6" fill="#ff7a00"/></svg>',
  );

async function keyOf(secret: number[]) {
  const pair = await createKeyPairFromBytes(new Uint8Array(secret));
  const address = await getAddressFromPublicKey(pair.publicKey);
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { pair, address, raw };
}

export async function install(secret: number[], chains: IdentifierString[]) {
  let key = await keyOf(secret);
  let connected = false;
  const listeners = new Set<Listener>();
  const control = { signDelayMs: 0, refuse: false, signed: 0 };

  const account = (): WalletAccount => ({
    address: key.address,
    publicKey: key.raw,
    chains,
    features: ['solana:signTransaction'],
  });
  const emit = () => listeners.forEach((l) => l({ accounts: connected ? [account()] : [] }));

  const wallet: Wallet = {
    version: '1.0.0',
    name: 'Sparks Test Wallet',
    icon: ICON as `data:image/svg+xml;base64,${string}`,
    chains,
    get accounts() {
      return connected ? [account()] : [];
    },
    features: {
      'standard:connect': {
        version: '1.0.0',
        connect: async () => {
          connected = true;
          return { accounts: [account()] };
        },
      },
      'standard:disconnect': {
        version: '1.0.0',
        disconnect: async () => {
          connected = false;
        },
      },
      'standard:events': {
        version: '1.0.0',
        on: (_event: 'change', listener: Listener) => {
          listeners.add(listener);
          return () => listeners.delete(listener);
        },
      },
      'solana:signTransaction': {
        version: '1.0.0',
        supportedTransactionVersions: ['legacy', 0],
        signTransaction: async (
          ...inputs: { account: WalletAccount; transaction: Uint8Array; chain?: IdentifierString }[]
        ) => {
          if (control.signDelayMs) await new Promise((r) => setTimeout(r, control.signDelayMs));
          if (control.refuse) throw new Error('the user rejected the request');
          // A real wallet signs only for the chains it serves: a page asking
          // for another cluster is caught here.
          const foreign = inputs.find((input) => !input.chain || !chains.includes(input.chain));
          if (foreign) throw new Error(`cannot sign for chain ${foreign.chain ?? '(none given)'}`);
          return Promise.all(
            inputs.map(async ({ account: signer, transaction }) => {
              if (signer.address !== key.address) throw new Error(`no key for ${signer.address}`);
              const decoded = getTransactionDecoder().decode(transaction);
              const signed = await partiallySignTransaction([key.pair], decoded);
              control.signed++;
              return { signedTransaction: new Uint8Array(getTransactionEncoder().encode(signed)) };
            }),
          );
        },
      },
    },
  };
  registerWallet(wallet);

  Object.assign(window, {
    sparksTestWallet: Object.assign(control, {
      address: (): Address => key.address,
      /** The user switched to another account in the wallet. */
      switchTo: async (next: number[]) => {
        key = await keyOf(next);
        emit();
      },
    }),
  });
}
