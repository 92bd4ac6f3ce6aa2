import json, os, copy
import os.path
ROOT=os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..'))
RD=ROOT+'/testdata/realapiserver/'
RULES=ROOT+'/testdata/rules/'
_files={}
def load(f):
    if f not in _files:
        lines=[l.rstrip('\n') for l in open(RD+f)]
        _files[f]=[(l,json.loads(l)) for l in lines]
    return _files[f]
_labels=None
def labels():
    global _labels
    if _labels is None:
        _labels=[json.loads(l) for l in open(RD+'labels.jsonl')]
    return _labels
def sc(f, name):
    for l in labels():
        if l['file']==f and l['scenario']==name: return set(l['auditIDs'])
    raise KeyError((f,name))
def evs(f, ids=None, pred=None, stages=None):
    out=[]
    for raw,e in load(f):
        if ids is not None and e['auditID'] not in ids: continue
        if stages is not None and e['stage'] not in stages: continue
        if pred is not None and not pred(e): continue
        out.append(raw)
    return out
def P(raw): return json.loads(raw)
def D(e): return json.dumps(e, separators=(',',':'), ensure_ascii=False)
def edit(lines, fn):
    out=[]
    for raw in lines:
        e=json.loads(raw); r=fn(e)
        if r is False: continue
        out.append(D(e))
    return out
def _slim(o):
    if isinstance(o, dict):
        md=o.get('metadata')
        if isinstance(md, dict): md.pop('managedFields', None)
        for it in o.get('items') or []:
            _slim(it)
def slim(lines):
    """metadata.managedFields dropped from bodies: no rule reads them, and they are most of a body"""
    out=[]
    for raw in lines:
        if '"managedFields"' not in raw:
            out.append(raw); continue
        e=json.loads(raw)
        for b in ('requestObject','responseObject'):
            _slim(e.get(b))
        out.append(D(e))
    return out
def w(rule, name, lines, note=None):
    assert lines, (rule,name)
    lines=slim(lines)
    d=RULES+rule; os.makedirs(d, exist_ok=True)
    open(d+'/'+name+'.jsonl','w').write('\n'.join(lines)+'\n')
def wa(rule, text):
    d=RULES+rule; os.makedirs(d, exist_ok=True)
    open(d+'/allowlist.yaml','w').write(text)
# helpers
def user(e): return (e.get('user') or {}).get('username','')
def res(e): return (e.get('objectRef') or {}).get('resource','')
def sub(e): return (e.get('objectRef') or {}).get('subresource','')
def ns(e): return (e.get('objectRef') or {}).get('namespace','')
def name(e): return (e.get('objectRef') or {}).get('name','')
def code(e): return (e.get('responseStatus') or {}).get('code',0)
def final(e): return e['stage'] in ('ResponseComplete','Panic')
def ids_of(lines): return set(json.loads(l)['auditID'] for l in lines)
def req(f, pred, stages=None):
    """all events (every stage) of the requests whose some event matches pred"""
    ids=set(e['auditID'] for raw,e in load(f) if pred(e))
    return evs(f, ids=ids, stages=stages)

def nolist(lines):
    """list responses' bodies dropped (the rules of the fixture do not read them): smaller files"""
    def f(e):
        if e.get('verb')=='list': e.pop('responseObject',None)
    return edit(lines,f)
