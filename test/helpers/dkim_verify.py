#!/usr/bin/python3
# Verifies every DKIM-Signature of a message with python3-dkim (an independent verifier).
# usage: dkim_verify.py MESSAGE_FILE DNS_JSON   where DNS_JSON maps "sel._domainkey.dom." to the TXT value
import json, sys
import dkim

msg = open(sys.argv[1], 'rb').read()
records = json.load(open(sys.argv[2]))

def dnsfunc(name, timeout=5):
    key = name.decode() if isinstance(name, bytes) else name
    v = records.get(key) or records.get(key.rstrip('.')) or records.get(key + '.')
    return v.encode() if v else None

d = dkim.DKIM(msg)
sigs = [h for h in d.headers if h[0].lower() == b'dkim-signature']
if not sigs:
    print('no signature'); sys.exit(2)
try:
    ok = all(d.verify(idx=i, dnsfunc=dnsfunc) for i in range(len(sigs)))
except dkim.DKIMException as e:
    print('fail: ' + str(e).split(' (')[0]); sys.exit(1)
print('pass' if ok else 'fail')
sys.exit(0 if ok else 1)
