"""What the listing serves to people: a self-contained HTML dashboard and a visits badge. Pure functions.

The page embeds the first answer as JSON (by default the 100 most-hit routes of the whole table, ``top``;
"Load more" asks for 100 more, up to 1,000; with ``limit`` or ``cursor``, Scan pages) and renders it with
textContent only, so a route like ``/<script>`` is always shown as text. Its one script and one style are allowed by hash in its own
Content-Security-Policy; nothing is loaded from anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import unicodedata
from typing import Any, Mapping

_STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222}h1{font-size:1.3rem}h2{font-size:1rem;margin:1rem 0 .3rem}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left}
th{cursor:pointer;user-select:none}td.n{position:relative;min-width:12rem}
.bar{position:absolute;left:0;top:20%;height:60%;background:#cfe3ff;z-index:-1}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
td.route{font-family:ui-monospace,monospace;word-break:break-all}.charts{display:flex;flex-wrap:wrap;gap:1rem 2rem}
.chart{flex:1 1 22rem;max-width:40rem}.chart svg{width:100%;height:auto}.chart rect{fill:#4a90d9}.chart text{font-size:10px;fill:#666}
.spark polyline{fill:none;stroke:#4a90d9;stroke-width:1.2}select{padding:.3rem;margin-left:1rem}
.link{font:11px system-ui,sans-serif;background:#eee;border-radius:3px;padding:0 .3rem;color:#555}input{padding:.3rem;width:20rem;margin:.5rem 0}"""

# The charts and sparklines are inline SVG built with DOM calls (no markup strings, no external scripts).
# Bucket keys are UTC ("2026-11-24T05", "2026-11-24"), counted back from the answer's asOf time.
_SCRIPT = """(()=>{const $=i=>document.getElementById(i),d=JSON.parse($('data').textContent),NS='http://www.w3.org/2000/svg';
let rows=d.routes,top=d.top||0,next=top?rows.length>=top&&top<1000:d.next,key='count',dir=-1,win=d.window||'',
totals=d.totals,asOf=Date.parse(d.asOf||'')||Date.now();$('window').value=win;
const td=(tr,t,c)=>{const e=document.createElement('td');e.textContent=t;if(c)e.className=c;tr.append(e);return e};
const esc=t=>t.replace(/[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}]/gu,c=>'\\\\u{'+c.codePointAt(0).toString(16).toUpperCase()+'}');
const el=(t,a)=>{const e=document.createElementNS(NS,t);for(const k in a)e.setAttribute(k,a[k]);return e};
const keys=(n,step,len)=>Array.from({length:n},(_,i)=>new Date(asOf-(n-1-i)*step).toISOString().slice(0,len));
const hits=r=>win?r.windowCount:r.count;
function sum(name){const t={};for(const r of rows)for(const[k,v]of Object.entries(r[name]||{}))t[k]=(t[k]||0)+v;return t}
function chart(id,series,n,step,len,label){const ks=keys(n,step,len),vs=ks.map(k=>series[k]||0),m=Math.max(1,...vs),
W=600,H=110,w=W/n,s=el('svg',{viewBox:`0 0 ${W} ${H+14}`,role:'img','aria-label':label});
ks.forEach((k,i)=>{const h=H*vs[i]/m,r=el('rect',{x:i*w+.5,y:H-h,width:Math.max(1,w-1),height:h,'data-key':k,'data-value':vs[i]}),
t=el('title',{});t.textContent=`${k}: ${vs[i].toLocaleString('en-US')}`;r.append(t);s.append(r)});
for(const[i,a]of[[0,'start'],[n-1,'end']]){const t=el('text',{x:i?W:0,y:H+12,'text-anchor':a});t.textContent=ks[i];s.append(t)}
$(id).replaceChildren(s)}
function spark(r){const vs=keys(48,36e5,13).map(k=>(r.hourly||{})[k]||0),m=Math.max(1,...vs),s=el('svg',{width:96,height:20,class:'spark'});
s.append(el('polyline',{points:vs.map((v,i)=>`${i*2},${19-18*v/m}`).join(' ')}));return s}
function render(){const q=$('filter').value.toLowerCase(),max=Math.max(1,...rows.map(hits));
const v=r=>key==='methods'?Object.keys(r.methods).join():key==='count'?hits(r):r[key]??'';
const shown=rows.filter(r=>r.route.toLowerCase().includes(q)).sort((a,b)=>(v(a)<v(b)?-1:v(a)>v(b)?1:0)*dir);
$('rows').replaceChildren(...shown.map(r=>{const tr=document.createElement('tr'),c=td(tr,esc(r.route),'route');
if(r.link){const m=document.createElement('span');m.className='link';m.textContent=r.link;c.append(' ',m)}
const n=td(tr,hits(r).toLocaleString('en-US'),'n'),b=document.createElement('span');b.className='bar';
b.style.width=(100*hits(r)/max)+'%';n.prepend(b);td(tr,'').append(spark(r));
td(tr,Object.entries(r.methods).map(([m,c])=>m+' '+c).join(' \\u00b7 '));
td(tr,(r.firstSeen||'').replace('T',' ').slice(0,19));td(tr,(r.lastSeen||'').replace('T',' ').slice(0,19));
td(tr,(r.visitors||0).toLocaleString('en-US'));td(tr,(r.bots||0).toLocaleString('en-US'));return tr}));
const all=rows.reduce((s,r)=>s+hits(r),0);$('hits').textContent=win?`Hits (${win})`:'Hits';
$('totals').textContent=`${rows.length} routes, ${all.toLocaleString('en-US')} hits`+(win?` in the last ${win}`:'')+
(next?' loaded so far':'')+(q?` (${shown.length} shown)`:'');$('more').hidden=!next;
const t=totals||{hourly:sum('hourly'),daily:sum('daily')};
chart('hourly',t.hourly,48,36e5,13,'hits per hour, last 48 hours');chart('daily',t.daily,31,864e5,10,'hits per day, last 31 days');
for(const th of document.querySelectorAll('th'))th.setAttribute('aria-sort',th.dataset.k===key?(dir<0?'descending':'ascending'):'none')}
for(const th of document.querySelectorAll('th[data-k]'))th.onclick=()=>{dir=key===th.dataset.k?-dir:(th.dataset.k==='route'?1:-1);
key=th.dataset.k;render()};
$('filter').oninput=render;
const KEY='route-counter-key';
function hdrs(){const h={Accept:'application/json'},k=sessionStorage.getItem(KEY);if(k)h['x-api-key']=k;return h}
async function load(u){u.pathname=u.pathname.replace(/\\/dashboard\\/?$/,'');u.searchParams.delete('format');
u.searchParams.set('series','1');if(win)u.searchParams.set('window',win);else u.searchParams.delete('window');
const r=await fetch(u,{headers:hdrs()});if(r.status===401||r.status===403){$('keyform').hidden=false;
$('keymsg').textContent=sessionStorage.getItem(KEY)?'That key was refused.':'This listing needs its API key.';return null}
$('keyform').hidden=true;return r.json()}
async function topView(){const u=new URL(location.href);u.searchParams.delete('cursor');
u.searchParams.delete('limit');u.searchParams.set('top',Math.max(top,100));const p=await load(u);if(!p)return;
rows=p.routes;top=p.top;next=rows.length>=top&&top<1000;totals=p.totals;asOf=Date.parse(p.asOf)||asOf;render()}
$('window').onchange=()=>{win=$('window').value;topView()};
$('keyform').onsubmit=e=>{e.preventDefault();sessionStorage.setItem(KEY,$('key').value.trim());topView()};
$('more').onclick=async()=>{const u=new URL(location.href);
if(top){u.searchParams.set('top',Math.min(1000,top+100))}else{u.searchParams.set('cursor',next)}const p=await load(u);
if(!p)return;if(top){rows=p.routes;top=p.top;next=p.routes.length>=top&&top<1000;totals=p.totals}else{rows=rows.concat(p.routes);next=p.next}render()};
render();if(d.shell)topView()})();"""


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


# Computed once per container.
CSP = (
    f"default-src 'none'; script-src {_sha256(_SCRIPT)}; style-src {_sha256(_STYLE)}; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HTML_TYPE = "text/html; charset=utf-8"
PAGE_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}
# A badge opened as a page is a document of the API's origin: nothing in it may run or load.
SVG_HEADERS = {"Content-Security-Policy": "default-src 'none'; sandbox"}


def wants_html(accept: str | None, query: Mapping[str, str]) -> bool:
    """HTML for ``?format=html``, or a browser asking for text/html rather than JSON; JSON otherwise."""
    fmt = query.get("format")
    if fmt:
        return fmt == "html"
    return accept is not None and "text/html" in accept and "application/json" not in accept


SHELL: dict[str, Any] = {"routes": [], "next": None, "shell": True}


def page(first: dict[str, Any]) -> str:
    """The dashboard with the first page of counts embedded as JSON that no markup can break out of; with
    SHELL, no counts: the page fetches them itself, with the API key it asks for when the listing needs one
    (countsAccess apiKey; kept in sessionStorage, so only in this tab)."""
    data = json.dumps(first, separators=(",", ":")).replace("<", "\\u003c").replace("&", "\\u0026")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><title>route-counter</title>'
        # An empty icon: otherwise the browser fetches /favicon.ico, and that would count as a hit.
        '<link rel="icon" href="data:,">'
        f"<style>{_STYLE}</style></head><body><h1>Route counts</h1><p id=\"totals\"></p>"
        '<div class="charts"><div class="chart"><h2>Hits per hour, last 48 hours (UTC)</h2><div id="hourly"></div></div>'
        '<div class="chart"><h2>Hits per day, last 31 days (UTC)</h2><div id="daily"></div></div></div>'
        '<form id="keyform" hidden><p id="keymsg"></p><label>API key <input id="key" type="password" '
        'autocomplete="off"></label> <button>Show counts</button> (kept in this tab only)</form>'
        '<input id="filter" type="search" placeholder="Filter routes" aria-label="Filter routes">'
        '<label>Window <select id="window"><option value="">all time</option><option value="1h">1 hour</option>'
        '<option value="24h">24 hours</option><option value="7d">7 days</option><option value="30d">30 days</option>'
        '</select></label>'
        '<table><thead><tr><th data-k="route">Route</th><th data-k="count" id="hits">Hits</th><th>Last 48 h</th>'
        '<th data-k="methods">Methods</th><th data-k="firstSeen">First seen (UTC)</th><th data-k="lastSeen">Last seen (UTC)</th><th data-k="visitors">Visitors</th><th data-k="bots">Bots</th>'
        '</tr></thead><tbody id="rows"></tbody></table><button id="more" hidden>Load more</button>'
        f'<script id="data" type="application/json">{data}</script><script>{_SCRIPT}</script></body></html>'
    )


MAX_LABEL = 40  # characters of a badge's label
COUNTING_BADGE_CACHE = "no-cache, no-store, max-age=0"  # image proxies (GitHub's camo) fetch it every time


def _xml_char(c: str) -> bool:
    """What XML 1.0 allows in a document (its Char production): no C0 controls but tab and line ends, no
    surrogates, not U+FFFE or U+FFFF."""
    o = ord(c)
    return o in (0x9, 0xA, 0xD) or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or 0x10000 <= o <= 0x10FFFF


def badge_label(raw: str | None, default: str = "visits") -> str:
    """A badge label from a query value: control, format and separator characters and anything XML does
    not allow removed (the SVG always parses), capped, never empty."""
    text = "".join(c for c in (raw or "")
                   if _xml_char(c) and unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp")).strip()
    return text[:MAX_LABEL].strip() or default


def _text_width(text: str) -> int:
    """Rough pixel width of 11px Verdana, enough to size a badge."""
    return sum(4 if c in "il.,:;|!1 " else 9 if c in "mwMW@" else 7 for c in text) + 10


def badge(label: str, count: int) -> tuple[str, dict[str, Any]]:
    """An SVG badge "label | 1,234" and the JSON shields.io's endpoint badge reads."""
    message = f"{count:,}"
    # html, not xml.sax.saxutils: that imports urllib.request, ~20 ms of a cold start.
    label_text = label_attr = html.escape(label, quote=True)
    left, right = _text_width(label), _text_width(message)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + right}" height="20" role="img" '
        f'aria-label="{label_attr}: {message}"><title>{label_text}: {message}</title>'
        f'<rect width="{left}" height="20" fill="#555"/><rect x="{left}" width="{right}" height="20" fill="#007ec6"/>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{label_text}</text><text x="{left + right / 2}" y="14">{message}</text></g></svg>'
    )
    shields = {"schemaVersion": 1, "label": label, "message": message, "color": "blue"}
    return svg, shields
