#!/usr/bin/env python3
"""Lists the functions in src/ longer than 80 lines (from the `fn` line to its
closing brace), longest first, for issue 14's rule; a function whose doc
comment says it is long "by design" (a table of data) is passed over.
  python3 bench/fnlen.py        # run from the repository root
"""
import re,sys,os
res=[]
for root,_,files in os.walk('src'):
    for f in files:
        if not f.endswith('.rs'): continue
        p=os.path.join(root,f); L=open(p).read().split('\n')
        i=0
        intest=False
        while i<len(L):
            line=L[i]
            if re.match(r'\s*#\[cfg\(test\)\]',line): break
            m=re.match(r'\s*(pub(\([^)]*\))?\s+)?(async\s+)?fn\s+(\w+)',line)
            if m:
                depth=0;started=False;j=i
                while j<len(L):
                    s=re.sub(r'"(\\.|[^"\\])*"','""',L[j]); s=re.sub(r"'(\\.|[^'\\])'","''",s); s=s.split('//')[0]
                    for c in s:
                        if c=='{': depth+=1;started=True
                        elif c=='}': depth-=1
                    if started and depth<=0: break
                    if not started and s.rstrip().endswith(';'): break
                    j+=1
                n=j-i+1
                doc='\n'.join(L[max(0,i-4):i])
                if n>80 and 'by design' not in doc: res.append((n,p,i+1,m.group(4)))
                i=j+1; continue
            i+=1
for r in sorted(res,reverse=True): print(*r)
print(len(res))
