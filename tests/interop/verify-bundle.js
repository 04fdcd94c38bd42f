#!/usr/bin/env node
// Verifies a Sigstore bundle with a public key using Sigstore's own JavaScript verifier
// (@sigstore/verify, the code behind sigstore-js and npm's provenance checks): code that did
// not write the bundle. No transparency log, no CT log, no timestamp authority is required,
// as for a bundle signed by a key that is trusted directly (cosign's --insecure-ignore-tlog).
//
//   node verify-bundle.js BUNDLE.json PUBLIC_KEY.pem KEY_HINT
//
// Exit 0 and a JSON line {verified, predicateType} when it verifies; 1 with the reason when
// it does not; 2 on usage errors.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');
const { bundleFromJSON } = require('@sigstore/bundle');

const [bundlePath, keyPath, hint] = process.argv.slice(2);
if (!bundlePath || !keyPath || !hint) {
  console.error('usage: verify-bundle.js BUNDLE.json PUBLIC_KEY.pem KEY_HINT');
  process.exit(2);
}
try {
  const bundle = JSON.parse(fs.readFileSync(bundlePath, 'utf8'));
  const publicKey = crypto.createPublicKey(fs.readFileSync(keyPath, 'utf8'));
  const emptyRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [],
  };
  const keyFinder = (h) => {
    if (h !== hint) throw new Error(`no trusted key has hint ${h}`);
    return { publicKey, validFor: () => true };
  };
  const verifier = new Verifier(toTrustMaterial(emptyRoot, keyFinder), {
    tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0,
  });
  verifier.verify(toSignedEntity(bundleFromJSON(bundle)));
  const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString('utf8'));
  console.log(JSON.stringify({ verified: true, predicateType: statement.predicateType }));
} catch (e) {
  console.log(JSON.stringify({ verified: false, reason: String(e && e.message || e) }));
  process.exit(1);
}
