#!/usr/bin/env python3
"""Combines runs of bench_family_table (markdown tables) by the median per cell; prints the table
with the winner and its ratio over the runner-up. Usage: family_table_median.py RUN.md [RUN.md ...]"""
import re
import statistics
import sys

files=sys.argv[1:]
runs=[open(f).read().splitlines() for f in files]
rows={}; order=[]
for lines in runs:
    for l in lines:
        if not l.startswith('| avx') and not l.startswith('| neon'): continue
        c=[x.strip() for x in l.strip('|').split('|')]
        key=tuple(c[:4])
        if key not in rows: rows[key]=[]; order.append(key)
        vals=[]
        for cell in c[4:7]:
            m=re.match(r'([\d.]+)',cell)
            vals.append(float(m.group(1)) if m else None)
        rows[key].append(vals)
fams=['lut','bitserial','dot']
print('| ISA | class | layer | bits | lut µs | bitserial µs | dot µs | winner |')
print('|---|---|---|---|---|---|---|---|')
for k in order:
    med=[]
    for f in range(3):
        v=[r[f] for r in rows[k] if r[f] is not None]
        med.append(statistics.median(v) if v else None)
    cand=sorted((med[i],fams[i]) for i in range(3) if med[i] is not None)
    w,s=cand[0],cand[1]
    print('| '+' | '.join(k)+' | '+' | '.join('-' if m is None else f'{m:.1f}' for m in med)+f' | {w[1]} {s[0]/w[0]:.2f}x {s[1]} |')
