// jsforce (the @jsforce/jsforce-node build the sf CLI ships) against the sandbox: Bulk API 1.0
// insert/upsert/query through conn.bulk, and SOSL through conn.search. Prints one JSON line.
// env: JSFORCE (module path), SF_INSTANCE_URL, SF_ACCESS_TOKEN; NODE_EXTRA_CA_CERTS for TLS.
'use strict';
const jsforce = require(process.env.JSFORCE);

function collect(stream) {
  return new Promise((resolve, reject) => {
    const records = [];
    stream.on('record', (record) => records.push(record));
    stream.on('error', reject);
    stream.on('end', () => resolve(records));
  });
}

async function main() {
  const conn = new jsforce.Connection({
    instanceUrl: process.env.SF_INSTANCE_URL,
    accessToken: process.env.SF_ACCESS_TOKEN,
    version: '59.0',
  });
  conn.bulk.pollInterval = 50;
  conn.bulk.pollTimeout = 20000;
  const inserted = await conn.bulk.load('Account', 'insert', [
    { Name: 'JS One', Stripe_Customer_Id__c: 'cus_js1' },
    { Name: 'JS Two', Stripe_Customer_Id__c: 'cus_js2' },
    { Stripe_Customer_Id__c: 'cus_js_bad' },
  ]);
  const upserted = await conn.bulk.load(
    'Account',
    'upsert',
    { extIdField: 'Stripe_Customer_Id__c' },
    [
      { Stripe_Customer_Id__c: 'cus_js2', Name: 'JS Two Renamed' },
      { Stripe_Customer_Id__c: 'cus_js3', Name: 'JS Three' },
    ],
  );
  const queried = await collect(
    await conn.bulk.query("SELECT Id, Name FROM Account WHERE Name LIKE 'JS%' ORDER BY Name"),
  );
  const searched = await conn.search(
    'FIND {JS*} IN NAME FIELDS RETURNING Account(Name, Stripe_Customer_Id__c ORDER BY Name)',
  );
  process.stdout.write(JSON.stringify({ inserted, upserted, queried, searched }) + '\n');
}

main().catch((error) => {
  process.stderr.write(`${error.name}: ${error.message}\n${error.stack}\n`);
  process.exit(1);
});
