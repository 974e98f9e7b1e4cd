// Renders what clients/js commits from the project's contracts:
// - src/generated: the Sparks program's @solana/kit client, by Codama from
//   idl/sparks.json, plus src/generated/events.ts (the emit_cpi events'
//   discriminators and decoders: @codama/renderers-js renders no events, so
//   each event's data is rendered as a defined type and this script writes
//   the table that names them);
// - src/api: the indexer's and the issuer service's HTTP API types, by
//   openapi-typescript from openapi/*.json (which Rust tests keep equal to
//   what the services serve).
// `--check` renders into a temp dir and fails when the committed code
// differs: run `npm run generate` in clients/js and commit.
//
// The @codama packages are pinned to 1.9.0 (root package.json "overrides"):
// @codama/renderers-js 2.2.0 reads `structTypeNode.fields`, which
// @codama/nodes 1.10+ leaves out when a struct is empty.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  accountBumpValueNode,
  accountValueNode,
  addPdasVisitor,
  constantPdaSeedNodeFromString,
  createFromRoot,
  definedTypeNode,
  numberTypeNode,
  pdaSeedValueNode,
  pdaValueNode,
  programIdValueNode,
  programNode,
  rootNode,
  publicKeyTypeNode,
  setInstructionAccountDefaultValuesVisitor,
  updateInstructionsVisitor,
  variablePdaSeedNode,
} from 'codama';
import { rootNodeFromAnchor } from '@codama/nodes-from-anchor';
import { renderVisitor } from '@codama/renderers-js';
import openapiTS, { astToString } from 'openapi-typescript';

const here = dirname(fileURLToPath(import.meta.url));
const client = join(here, '..');
const idl = JSON.parse(readFileSync(join(client, '../../idl/sparks.json'), 'utf8'));
const check = process.argv.includes('--check');
const out = check ? mkdtempSync(join(tmpdir(), 'sparks-codama-')) : client;

// Each event's data as a defined type (its codecs get rendered), the
// discriminator prefix left off: the event table below matches it.
const root = rootNodeFromAnchor(idl);
const program = root.program;
// Events carry account states (the account after the change), which the
// IDL links by the account's name; accounts are not defined types, so the
// account's fields are inlined (without its discriminator).
const accountFields = new Map(
  program.accounts.map((a) => [a.name, { ...a.data, fields: a.data.fields.filter((f) => f.name !== 'discriminator') }]),
);
const inlineAccounts = (node) => {
  if (Array.isArray(node)) return node.map(inlineAccounts);
  if (!node || typeof node !== 'object') return node;
  if (node.kind === 'definedTypeLinkNode' && accountFields.has(node.name)) return accountFields.get(node.name);
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inlineAccounts(v)]));
};
const eventTypes = program.events.map((event) =>
  definedTypeNode({
    name: event.name,
    type: inlineAccounts(event.data.type),
    docs: [`The \`${event.name}\` event's data.`],
  }),
);
const withEvents = rootNode(
  programNode({ ...program, definedTypes: [...program.definedTypes, ...eventTypes] }),
  root.additionalPrograms,
);

const codama = createFromRoot(withEvents);
// What the IDL cannot say: Anchor's emit_cpi accounts (the event authority
// PDA and the program itself) are the same for every instruction, so they
// default; a perk's PDA is seeded by `params.id`, a nested argument Codama
// does not follow, so `findPerkPda` is declared here. An award's recipient
// SparkAccount and a grant's whitelist entry are checked by hand in the
// program against a bump the caller passes (no `seeds` constraint, which
// would search), so their PDAs (the entry's is consume_whitelist_spot's),
// and the bumps as the PDAs' own, default here.
codama.update(
  addPdasVisitor({
    [program.name]: [
      {
        name: 'eventAuthority',
        seeds: [constantPdaSeedNodeFromString('utf8', '__event_authority')],
        docs: ["Anchor's emit_cpi signer: the program signs its event self-CPIs as this PDA."],
      },
      {
        name: 'perk',
        seeds: [constantPdaSeedNodeFromString('utf8', 'perk'), variablePdaSeedNode('id', numberTypeNode('u64'))],
      },
      {
        name: 'recipientSpark',
        seeds: [constantPdaSeedNodeFromString('utf8', 'spark'), variablePdaSeedNode('recipient', publicKeyTypeNode())],
      },
    ],
  }),
);
codama.update(
  setInstructionAccountDefaultValuesVisitor([
    { account: 'eventAuthority', defaultValue: pdaValueNode('eventAuthority') },
    { account: 'program', defaultValue: programIdValueNode() },
    {
      account: 'recipientSpark',
      instruction: 'award',
      defaultValue: pdaValueNode('recipientSpark', [pdaSeedValueNode('recipient', accountValueNode('recipient'))]),
    },
    {
      account: 'entry',
      instruction: 'grantWhitelist',
      defaultValue: pdaValueNode('entry', [
        pdaSeedValueNode('whitelist', accountValueNode('whitelist')),
        pdaSeedValueNode('wallet', accountValueNode('wallet')),
      ]),
    },
  ]),
);
codama.update(
  updateInstructionsVisitor({
    award: { arguments: { recipientBump: { defaultValue: accountBumpValueNode('recipientSpark') } } },
    grantWhitelist: { arguments: { entryBump: { defaultValue: accountBumpValueNode('entry') } } },
  }),
);

await codama.accept(
  renderVisitor(out, {
    deleteFolderBeforeRendering: true,
    generatedFolder: 'src/generated',
    syncPackageJson: false,
    // The project's prettier settings, given here so the output is the same
    // wherever it is rendered (--check renders into a temp dir, where the
    // renderer would not find the root's .prettierrc.json).
    prettierOptions: JSON.parse(readFileSync(join(client, '../../.prettierrc.json'), 'utf8')),
  }),
);

const pascal = (name) => name[0].toUpperCase() + name.slice(1);
const events = program.events.map((event) => {
  const bytes = event.data.prefix[0].value;
  if (bytes.encoding !== 'base16') throw new Error(`event ${event.name}: discriminator in ${bytes.encoding}`);
  return { name: event.name, type: pascal(event.name), discriminator: [...Buffer.from(bytes.data, 'hex')] };
});
writeFileSync(
  join(out, 'src/generated/events.ts'),
  `/**
 * This code was AUTOGENERATED by clients/js/scripts/generate.mjs from the
 * IDL's events. Please DO NOT EDIT THIS FILE: change the program, rebuild
 * the IDL and run \`npm run generate\`.
 */

import type { Decoder, ReadonlyUint8Array } from '@solana/kit';
import {
${events.map((e) => `  get${e.type}Decoder,\n  type ${e.type},`).join('\n')}
} from './types';

/** Every event the program emits, by its 8-byte discriminator. */
export const SPARKS_EVENTS = {
${events
  .map(
    (e) =>
      `  ${e.name}: {\n    discriminator: new Uint8Array([${e.discriminator.join(', ')}]) as ReadonlyUint8Array,\n    decoder: get${e.type}Decoder() as Decoder<${e.type}>,\n  },`,
  )
  .join('\n')}
} as const;

export type SparksEventName = keyof typeof SPARKS_EVENTS;

/** Each event's data by its name. */
export type SparksEventMap = {
${events.map((e) => `  ${e.name}: ${e.type};`).join('\n')}
};

/** A decoded event: its name and its data. */
export type SparksEvent = {
  [N in SparksEventName]: { name: N; data: SparksEventMap[N] };
}[SparksEventName];
`,
);

// The program's error names by code (the generated errors give constants
// and messages; a page shows the name and its own words).
writeFileSync(
  join(out, 'src/generated/errorNames.ts'),
  `/**
 * This code was AUTOGENERATED by clients/js/scripts/generate.mjs from the
 * IDL's errors. Please DO NOT EDIT THIS FILE: run \`npm run generate\`.
 */

/** The program's errors: name and message by code. */
export const SPARKS_ERRORS = {
${program.errors.map((e) => `  ${e.code}: { name: '${pascal(e.name)}', message: ${JSON.stringify(e.message)} },`).join('\n')}
} as const;

export type SparksErrorCode = keyof typeof SPARKS_ERRORS;
export type SparksErrorName = (typeof SPARKS_ERRORS)[SparksErrorCode]['name'];
`,
);

// The compute units the SBF VM measured for the program (idl/compute-units.json,
// which the Rust client embeds too): src/budget.ts makes limits from them.
const { about: _about, ...computeUnits } = JSON.parse(
  readFileSync(join(client, '../../idl/compute-units.json'), 'utf8'),
);
writeFileSync(
  join(out, 'src/generated/computeUnits.ts'),
  `/**
 * This code was AUTOGENERATED by clients/js/scripts/generate.mjs from
 * idl/compute-units.json. Please DO NOT EDIT THIS FILE: rebuild the program
 * (./scripts/build-sbf measures it anew) and run \`npm run generate\`.
 *
 * Compute units the SBF VM metered for the committed bytecode: award and
 * award_batch per part, every other instruction at its worst measured case,
 * each PDA the program searches at one bump try.
 */

export const COMPUTE_UNITS = ${JSON.stringify(computeUnits, null, 2)} as const;
`,
);

// The services' HTTP API types.
mkdirSync(join(out, 'src/api'), { recursive: true });
for (const service of ['indexer', 'issuer']) {
  const doc = JSON.parse(readFileSync(join(client, `openapi/${service}.json`), 'utf8'));
  const ast = await openapiTS(doc);
  writeFileSync(
    join(out, `src/api/${service}.ts`),
    `/**\n * This code was AUTOGENERATED by openapi-typescript from clients/js/openapi/${service}.json.\n * Please DO NOT EDIT THIS FILE: run \`npm run generate\` in clients/js.\n */\n\n${astToString(ast)}`,
  );
}

if (check) {
  const files = (root) =>
    readdirSync(root, { recursive: true })
      .map((f) => join(root, f))
      .filter((f) => statSync(f).isFile())
      .map((f) => relative(root, f))
      .sort();
  const stale = [];
  for (const folder of ['src/generated', 'src/api']) {
    const fresh = join(out, folder);
    const committed = join(client, folder);
    let names;
    try {
      names = [...new Set([...files(fresh), ...files(committed)])];
    } catch {
      stale.push(folder);
      continue;
    }
    for (const f of names) {
      try {
        if (readFileSync(join(fresh, f), 'utf8') !== readFileSync(join(committed, f), 'utf8'))
          stale.push(join(folder, f));
      } catch {
        stale.push(join(folder, f));
      }
    }
  }
  rmSync(out, { recursive: true, force: true });
  if (stale.length > 0) {
    console.error(`clients/js is stale (${stale.join(', ')}): run \`npm run generate\` in clients/js and commit it`);
    process.exit(1);
  }
  console.log('clients/js/src/generated and src/api match idl/sparks.json and openapi/*.json');
}
