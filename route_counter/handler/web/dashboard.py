"""The dashboard page the listing serves to people: self-contained HTML, one script, one style. Pure.

The page embeds the first answer as JSON (by default the 100 most-hit routes of the whole table, ``top``;
"Load more" asks for 100 more, up to 1,000; with ``limit`` or ``cursor``, Scan pages) and renders it with
textContent only, so a route like ``/<script>`` is always shown as text. Its one script and one style are allowed by hash in its own
Content-Security-Policy; nothing is loaded from anywhere else.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Mapping

_STYLE = r"""body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222}h1{font-size:1.3rem;margin-bottom:.2rem}
h2{font-size:1rem;margin:1rem 0 .3rem}#asof{color:#666;margin-top:0}
table{border-collapse:collapse;width:100%}th,td{padding:.3rem .5rem;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
th{cursor:pointer;user-select:none;white-space:nowrap}td.n{position:relative;min-width:7rem}.wrap{overflow-x:auto}
.bar{position:absolute;left:0;top:20%;height:60%;background:#cfe3ff;z-index:-1}
th[aria-sort=ascending]::after{content:" \25B2"}th[aria-sort=descending]::after{content:" \25BC"}
td.route{font-family:ui-monospace,monospace;overflow-wrap:anywhere;min-width:10rem;max-width:32rem}
.charts{display:flex;flex-wrap:wrap;gap:1rem 2rem}.chart{flex:1 1 18rem;min-width:0;max-width:40rem}
.chart svg{width:100%;height:auto}.chart rect{fill:#4a90d9}.chart text{font-size:11px;fill:#555}.chart line{stroke:#e4e4e4}
.spark polyline{fill:none;stroke:#4a90d9;stroke-width:1.2}select{padding:.3rem;margin-left:1rem}
.link{font:11px system-ui,sans-serif;background:#eee;border-radius:3px;padding:0 .3rem;color:#555}
input{padding:.3rem;width:20rem;max-width:100%;box-sizing:border-box;margin:.5rem 1rem .5rem 0}
#empty{background:#f6f8fa;border:1px solid #ddd;border-radius:4px;padding:.8rem 1rem}#empty code{overflow-wrap:anywhere}
@media (max-width:40rem){body{margin:.75rem}select{margin:0}}"""

# The charts and sparklines are inline SVG built with DOM calls (no markup strings, no external scripts).
# Hour keys are UTC hours ("2026-11-24T05"), labelled in the viewer's local time, as are first and last seen
# (one zone for every time of day on the page, named in the chart's heading); day keys are dates in the
# stack's timezone ("2026-11-24", the answer's "timezone"), counted back from the zone's date at asOf by
# calendar arithmetic (so a 23- or 25-hour day is still one bar). A chart is drawn at its box's width, one SVG
# unit a pixel, so its labels are 11 px on a phone too (half as many where they would touch); it is redrawn
# when the window is resized. A raw string: the JavaScript as written.
_SCRIPT = r"""(()=>{const $=i=>document.getElementById(i),d=JSON.parse($('data').textContent),NS='http://www.w3.org/2000/svg';
let rows=d.routes,top=d.top||0,next=top?rows.length>=top&&top<1000:d.next,key='count',dir=-1,win=d.window||'',
totals=d.totals,asOf=Date.parse(d.asOf||'')||Date.now(),features=d.features||{},tz=d.timezone||'UTC',loaded=!d.shell;
$('window').value=win;
const fmt=n=>n.toLocaleString('en-US'),many=(k,w)=>`${fmt(k)} ${w}${k===1?'':'s'}`;
const td=(tr,t,c)=>{const e=document.createElement('td');e.textContent=t;if(c)e.className=c;tr.append(e);return e};
const esc=t=>t.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu,c=>'\\u{'+c.codePointAt(0).toString(16).toUpperCase()+'}');
const pct=c=>{try{return encodeURIComponent(c)}catch(e){return '\\u{'+c.codePointAt(0).toString(16).toUpperCase()+'}'}};
const shownRoute=t=>/[^\x00-\x7f]/.test(t)?esc(t)+' ['+t.replace(/[^\x00-\x7f]/gu,pct)+']':esc(t);
const el=(t,a)=>{const e=document.createElementNS(NS,t);for(const k in a)e.setAttribute(k,a[k]);return e};
const keys=(n,step,len)=>Array.from({length:n},(_,i)=>new Date(asOf-(n-1-i)*step).toISOString().slice(0,len));
const ymd=t=>{const p={};for(const x of new Intl.DateTimeFormat('en-US',{timeZone:tz,year:'numeric',month:'2-digit',
day:'2-digit'}).formatToParts(t))p[x.type]=x.value;return `${p.year}-${p.month}-${p.day}`};
const dayKeys=n=>{const today=Date.parse(ymd(asOf)+'T00:00:00Z');
return Array.from({length:n},(_,i)=>new Date(today-(n-1-i)*864e5).toISOString().slice(0,10))};
const hits=r=>win?r.windowCount:r.count;
const hour=k=>new Date(k+':00:00Z'),day=k=>new Date(k+'T00:00:00Z');
const hm=t=>t.toLocaleTimeString([],{hour:"numeric",minute:"2-digit"}),seen=s=>s?new Date(s).toLocaleString('sv-SE'):'';
const md=(t,tz)=>t.toLocaleDateString([],{month:'short',day:'numeric',timeZone:tz});
const axes={hourly:{n:48,step:36e5,len:13,when:k=>md(hour(k))+' '+hm(hour(k)),labels:8,
  tick:(k,i,thin)=>{const t=hour(k);return t.getHours()%(6*thin)?'':t.getHours()?hm(t):md(t)}},
 daily:{n:31,step:864e5,len:10,when:k=>md(day(k),'UTC'),labels:5,tick:(k,i,thin)=>(30-i)%(7*thin)?'':md(day(k),'UTC')}};
function scale(m){if(m<=4)return 4;const p=10**Math.floor(Math.log10(m/4));for(const f of[1,2,5,10])if(4*f*p>=m)return 4*f*p}
function sum(name){const t={};for(const r of rows)for(const[k,v]of Object.entries(r[name]||{}))t[k]=(t[k]||0)+v;return t}
function chart(id,series,label){const a=axes[id],ks=id==='daily'?dayKeys(a.n):keys(a.n,a.step,a.len),vs=ks.map(k=>series[k]||0),m=scale(Math.max(...vs)),
L=44,R=28,T=8,W=Math.max(280,$(id).clientWidth||600),H=110,w=(W-L-R)/a.n,thin=(W-L-R)/a.labels<56?2:1,
s=el('svg',{viewBox:`0 0 ${W} ${T+H+18}`,role:'img','aria-label':label});
for(let i=0;i<=4;i++){const y=T+H-H*i/4,t=el('text',{x:L-6,y:y+3,'text-anchor':'end',class:'y'});t.textContent=fmt(m*i/4);
s.append(el('line',{x1:L,x2:W-R,y1:y,y2:y}),t)}
ks.forEach((k,i)=>{const h=H*vs[i]/m,r=el('rect',{x:L+i*w+.5,y:T+H-h,width:Math.max(1,w-1),height:h,'data-key':k,'data-value':vs[i]}),
t=el('title',{}),x=a.tick(k,i,thin);t.textContent=`${a.when(k)}: ${fmt(vs[i])}`;r.append(t);s.append(r);
if(x){const e=el('text',{x:L+i*w+w/2,y:T+H+14,'text-anchor':'middle',class:'x'});
e.textContent=x;s.append(e)}});
$(id).replaceChildren(s)}
function spark(r){const vs=keys(48,36e5,13).map(k=>(r.hourly||{})[k]||0),m=Math.max(1,...vs),s=el('svg',{width:96,height:20,class:'spark'});
s.append(el('polyline',{points:vs.map((v,i)=>`${i*2},${19-18*v/m}`).join(' ')}));return s}
function render(){const q=$('filter').value.toLowerCase(),max=Math.max(1,...rows.map(hits));
const metered=rows.some(r=>r.statuses);for(const f of['visitors','bots'])$('th-'+f).hidden=!features[f];
$('th-statuses').hidden=!metered;
const v=r=>key==='methods'?Object.keys(r.methods).join():key==='count'?hits(r):r[key]??'';
const shown=rows.filter(r=>r.route.toLowerCase().includes(q)).sort((a,b)=>(v(a)<v(b)?-1:v(a)>v(b)?1:0)*dir);
$('rows').replaceChildren(...shown.map(r=>{const tr=document.createElement('tr'),c=td(tr,shownRoute(r.route),'route');
for(const tag of[r.link,r.statuses&&'metered'])if(tag){const m=document.createElement('span');m.className='link';
m.textContent=tag;c.append(' ',m)}
const n=td(tr,fmt(hits(r)),'n'),b=document.createElement('span');b.className='bar';
b.style.width=(100*hits(r)/max)+'%';n.prepend(b);td(tr,'').append(spark(r));
td(tr,Object.entries(r.methods).map(([m,c])=>m+' '+c).join(' \u00b7 '));
td(tr,seen(r.firstSeen));td(tr,seen(r.lastSeen));
for(const f of['visitors','bots'])if(features[f])td(tr,fmt(r[f]||0));
if(metered)td(tr,Object.entries(r.statuses||{}).map(([s,n])=>s+' '+fmt(n)).join(' \u00b7 '));return tr}));
const all=rows.reduce((s,r)=>s+hits(r),0);$('hits').textContent=win?`Hits (${win})`:'Hits';
$('totals').textContent=`${many(rows.length,'route')}, ${many(all,'hit')}`+(win?` in the last ${win}`:'')+
(next?' loaded so far':'')+(q?` (${shown.length} shown)`:'');$('more').hidden=!next;
$('asof').textContent=loaded?`Data as of ${new Date(asOf).toLocaleTimeString()}`+(top?', refreshed every minute':''):'';
const none=loaded&&!rows.length&&!win;$('empty').hidden=!none;$('board').hidden=none;
const t=totals||{hourly:sum('hourly'),daily:sum('daily')};
chart('hourly',t.hourly,'hits per hour, last 48 hours');
chart('daily',t.daily,`hits per day, last 31 days (${tz} days)`);$('dayzone').textContent=tz;
for(const th of document.querySelectorAll('th'))th.setAttribute('aria-sort',th.dataset.k===key?(dir<0?'descending':'ascending'):'none')}
for(const th of document.querySelectorAll('th[data-k]'))th.onclick=()=>{dir=key===th.dataset.k?-dir:(th.dataset.k==='route'?1:-1);
key=th.dataset.k;render()};
$('filter').oninput=render;
const base=location.origin+location.pathname.replace(/\/dashboard\/?$/,'').replace(/\/[^/]*\/?$/,'');
$('first').textContent=`curl ${base}/hello`;
const KEY='route-counter-key';
function hdrs(){const h={Accept:'application/json'},k=sessionStorage.getItem(KEY);if(k)h['x-api-key']=k;return h}
async function load(u){u.pathname=u.pathname.replace(/\/dashboard\/?$/,'');u.searchParams.delete('format');
u.searchParams.set('series','1');if(win)u.searchParams.set('window',win);else u.searchParams.delete('window');
const r=await fetch(u,{headers:hdrs()});if(r.status===401||r.status===403){$('keyform').hidden=false;
$('keymsg').textContent=sessionStorage.getItem(KEY)?'That key was refused.':'This listing needs its API key.';return null}
$('keyform').hidden=true;return r.ok?r.json():null}
function take(p){rows=p.routes;top=p.top;next=rows.length>=top&&top<1000;totals=p.totals;asOf=Date.parse(p.asOf)||asOf;
features=p.features||features;tz=p.timezone||tz;loaded=true}
async function topView(){const u=new URL(location.href);u.searchParams.delete('cursor');
u.searchParams.delete('limit');u.searchParams.set('top',Math.max(top,100));const p=await load(u);if(!p)return;take(p);render()}
$('window').onchange=()=>{win=$('window').value;topView()};
$('keyform').onsubmit=e=>{e.preventDefault();sessionStorage.setItem(KEY,$('key').value.trim());topView()};
$('more').onclick=async()=>{const u=new URL(location.href);
if(top){u.searchParams.set('top',Math.min(1000,top+100))}else{u.searchParams.set('cursor',next)}const p=await load(u);
if(!p)return;if(top){take(p)}else{rows=rows.concat(p.routes);next=p.next}render()};
setInterval(()=>{if(top&&!document.hidden)topView()},60000);
$('yourzone').textContent=Intl.DateTimeFormat().resolvedOptions().timeZone;
let sized=0;addEventListener('resize',()=>{clearTimeout(sized);sized=setTimeout(render,100)});
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
        f"<style>{_STYLE}</style></head><body><h1>Route counts</h1><p id=\"asof\"></p><p id=\"totals\"></p>"
        '<div id="empty" hidden><p><strong>No hits yet.</strong> Every request to this API counts one hit on its '
        'route; count the first one with</p><p><code id="first"></code></p><p>or open any path of the API in a '
        'browser, then reload this page.</p></div>'
        '<form id="keyform" hidden><p id="keymsg"></p><label>API key <input id="key" type="password" '
        'autocomplete="off"></label> <button>Show counts</button> (kept in this tab only)</form>'
        '<div id="board"><div class="charts"><div class="chart"><h2>Hits per hour, last 48 hours (your time: <span id="yourzone"></span>)</h2>'
        '<div id="hourly"></div></div><div class="chart"><h2>Hits per day, last 31 days (<span id="dayzone">UTC</span> days)</h2>'
        '<div id="daily"></div></div></div>'
        '<input id="filter" type="search" placeholder="Filter routes" aria-label="Filter routes">'
        '<label>Window <select id="window"><option value="">all time</option><option value="1h">1 hour</option>'
        '<option value="24h">24 hours</option><option value="7d">7 days</option><option value="30d">30 days</option>'
        '</select></label>'
        '<div class="wrap"><table><thead><tr><th data-k="route">Route</th><th data-k="count" id="hits">Hits</th>'
        '<th>Last 48 h</th><th data-k="methods">Methods</th><th data-k="firstSeen">First seen</th>'
        '<th data-k="lastSeen">Last seen</th><th data-k="visitors" id="th-visitors" hidden>Visitors</th>'
        '<th data-k="bots" id="th-bots" hidden>Bots</th><th id="th-statuses" hidden>Statuses</th></tr></thead><tbody id="rows"></tbody></table></div>'
        '<button id="more" hidden>Load more</button></div>'
        f'<script id="data" type="application/json">{data}</script><script>{_SCRIPT}</script></body></html>'
    )
