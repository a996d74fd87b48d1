-- wrk script: realistic RBTracking page hits for POST /api/collect.
--
--   wrk -t1 -c32 -d12s --latency -s bench/wrk/collect.lua http://127.0.0.1:8000/api/collect \
--       -- <agents file> <hostClient> <run nonce> <active seconds> [dump file]
--
-- With a dump file, every request's user agent and body are also written to it, one
-- "<ua>\t<body>" line each (bench/profile_hitpath.py replays them in-process).
--
-- Each wrk thread keeps a pool of visitors browsing at the same time. A visitor's session has
-- one user agent (drawn from the weighted list written by bench/useragents.py), one 45-digit
-- hash and 1..n page accesses with q = 1, 2, 3 ...; the first one is the landing (direct,
-- search, social, paid with UTM + click id, e-mail, referral), later ones are internal pages
-- whose referrer is the previous page. Bots send one hit per session, as crawlers do (no
-- storage kept). Each request is what the tracker sends: text/plain JSON, one hit, the
-- browser's usual headers (Origin, Referer, Accept-*), no preflight.
--
-- A clean end: each thread sends requests for <active seconds> from its first request, then
-- sends nothing more (delay() returns an hour) so the requests in flight complete before
-- wrk's -d runs out. Nothing is left unanswered at the end, so the benchmark can check exactly
-- that every acknowledged non-bot hit was stored. The rate is replies / (last reply - first
-- request), measured here with a monotonic clock; wrk's own req/s would count the idle tail.
--
-- Counted per thread and printed by done() as one JSON line starting with "BENCH ":
-- requests sent (bots among them), replies by status class, the active window, wrk's summary
-- and latency percentiles.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]])
local clock_buffer = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock_buffer) -- CLOCK_MONOTONIC
  return tonumber(clock_buffer.tv_sec) * 1000000 + math.floor(tonumber(clock_buffer.tv_nsec) / 1000)
end

local SITE = "https://www.colegioexemplo.com.br"
local POOL = 256 -- visitors browsing at once, per wrk thread

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("tid", thread_count)
  table.insert(threads, thread)
end

-- ---------------------------------------------------------------- per-thread state
local host_client, nonce, bot_share, active_us
local deadline = nil
local dump = nil
local browsers, browser_cum, browser_mobile = {}, {}, {}
local bots, bot_cum = {}, {}
local visitors = {}
local session_counter = 0
sent, sent_bots, replies, r2xx, r3xx, r4xx, r5xx, last_bad = 0, 0, 0, 0, 0, 0, 0, 0
t_first, t_last = 0, 0

local function pick(cum, u)
  local lo, hi = 1, #cum
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if cum[mid] < u then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function load_agents(path)
  local file = assert(io.open(path, "r"))
  local btotal, xtotal = 0, 0
  for line in file:lines() do
    local group, weight, mobile, ua = line:match("^(%a+)\t([^\t]+)\t?([^\t]*)\t?(.*)$")
    if group == "share" then
      bot_share = tonumber(weight)
    elseif group == "b" then
      btotal = btotal + tonumber(weight)
      table.insert(browsers, ua)
      table.insert(browser_cum, btotal)
      table.insert(browser_mobile, mobile == "1")
    elseif group == "x" then
      xtotal = xtotal + tonumber(weight)
      table.insert(bots, ua)
      table.insert(bot_cum, xtotal)
    end
  end
  file:close()
  for i = 1, #browser_cum do browser_cum[i] = browser_cum[i] / btotal end
  for i = 1, #bot_cum do bot_cum[i] = bot_cum[i] / xtotal end
  if #bots == 0 then bot_share = 0 end
end

function init(args)
  load_agents(args[1])
  host_client = args[2]
  nonce = tonumber(args[3]) or 0
  active_us = (tonumber(args[4]) or 10) * 1000000
  if args[5] and args[5] ~= "" then dump = assert(io.open(args[5] .. "." .. (tid or 1), "w")) end
  math.randomseed(nonce * 131 + (tid or 1) * 7919)
end

-- ---------------------------------------------------------------- the site
local PAGES = {
  {"/", "Colégio Exemplo | Educação Infantil ao Ensino Médio"},
  {"/cursos", "Cursos | Colégio Exemplo"},
  {"/cursos/ensino-medio", "Ensino Médio | Colégio Exemplo"},
  {"/cursos/ensino-fundamental-ii", "Ensino Fundamental II | Colégio Exemplo"},
  {"/cursos/educacao-infantil", "Educação Infantil | Colégio Exemplo"},
  {"/cursos/pre-vestibular", "Pré-vestibular e ENEM | Colégio Exemplo"},
  {"/matriculas-2025", "Matrículas 2025 abertas | Colégio Exemplo"},
  {"/bolsas-de-estudo", "Bolsas de estudo | Colégio Exemplo"},
  {"/agende-uma-visita", "Agende uma visita | Colégio Exemplo"},
  {"/contato", "Contato | Colégio Exemplo"},
  {"/sobre/nossa-historia", "Nossa história | Colégio Exemplo"},
  {"/sobre/estrutura", "Estrutura e laboratórios | Colégio Exemplo"},
  {"/noticias/aprovados-vestibular-2024", "Aprovados no vestibular 2024 | Colégio Exemplo"},
  {"/noticias/feira-de-ciencias", "Feira de Ciências | Colégio Exemplo"},
  {"/blog/como-escolher-a-escola-do-seu-filho", "Como escolher a escola do seu filho"},
  {"/blog/dicas-para-o-enem?pagina=2", "Dicas para o ENEM - página 2"},
}
-- Landing pages are skewed to the home page and the campaign pages.
local LANDINGS = {1, 1, 1, 1, 2, 3, 6, 7, 7, 7, 8, 9, 13, 15, 16}

local SEARCH = {
  "https://www.google.com/", "https://www.google.com/", "https://www.google.com/",
  "https://www.google.com.br/", "https://www.google.com.br/", "https://www.bing.com/",
  "https://search.yahoo.com/", "https://duckduckgo.com/",
}
local SOCIAL = {
  "https://l.instagram.com/", "https://l.instagram.com/", "https://lm.facebook.com/",
  "https://m.facebook.com/", "https://www.youtube.com/", "https://www.tiktok.com/",
  "https://www.linkedin.com/", "https://t.co/",
}
local REFERRAL = {
  "https://www.guiadoestudante.com.br/escolas/sao-paulo/",
  "https://www.reclameaqui.com.br/empresa/colegio-exemplo/",
  "https://pt.wikipedia.org/wiki/Col%C3%A9gio_Exemplo",
  "https://portal.prefeitura.sp.gov.br/educacao/",
  "android-app://com.google.android.gm/",
}
-- {utm_source, utm_medium, utm_campaign, click id name or nil, referrer}
local CAMPAIGNS = {
  {"google", "cpc", "matriculas-2025", "gclid", "https://www.google.com/"},
  {"google", "cpc", "bolsas-de-estudo", "gclid", "https://www.google.com.br/"},
  {"facebook", "paid_social", "matriculas-2025", "fbclid", "https://lm.facebook.com/"},
  {"instagram", "paid_social", "visita-guiada", "fbclid", "https://l.instagram.com/"},
  {"newsletter", "email", "boletim-outubro", nil, ""},
  {"rdstation", "email", "nutricao-leads", nil, ""},
  {"google", "display", "remarketing", "gclid", ""},
  {"tiktok", "cpc", "enem-2025", "ttclid", "https://www.tiktok.com/"},
}
local PHONE_SCREENS = {{390, 844}, {412, 915}, {360, 800}, {393, 873}, {414, 896}, {375, 667}}
local DESKTOP_SCREENS = {{1920, 1080}, {1366, 768}, {1536, 864}, {1440, 900}, {1280, 720}}
local LANGS = {"pt-BR", "pt-BR", "pt-BR", "pt-BR", "pt-BR", "pt-BR", "pt-BR", "pt", "en-US", "es"}

local function one(list) return list[math.random(#list)] end

local function click_id()
  return string.format("Cj0KCQjw%08dBhD%06dARIs%010d", math.random(0, 99999999),
    math.random(0, 999999), math.random(0, 2000000000))
end

-- The landing: (url, title, referrer, lp JSON fragment or "")
local function landing()
  local entry = PAGES[one(LANDINGS)]
  local page, title = entry[1], entry[2]
  local url = SITE .. page
  local kind = math.random()
  if kind < 0.30 then
    return url, title, "", ""                            -- direct / typed / bookmark
  elseif kind < 0.58 then
    return url, title, one(SEARCH), ""                   -- organic search
  elseif kind < 0.70 then
    return url, title, one(SOCIAL), ""                   -- organic social
  elseif kind < 0.78 then
    return url, title, one(REFERRAL), ""                 -- referral
  end
  local c = one(CAMPAIGNS)                               -- campaign landing with UTM
  local sep = page:find("?", 1, true) and "&" or "?"
  local query = string.format("utm_source=%s&utm_medium=%s&utm_campaign=%s", c[1], c[2], c[3])
  local lp = string.format(',"lp":{"utm_source":"%s","utm_medium":"%s","utm_campaign":"%s"',
    c[1], c[2], c[3])
  if c[4] then
    local id = click_id()
    query = query .. "&" .. c[4] .. "=" .. id
    lp = lp .. string.format(',"%s":"%s"', c[4], id)
  end
  return url .. sep .. query, title, c[5], lp .. "}"
end

local function new_visitor()
  session_counter = session_counter + 1
  local now_ms = os.time() * 1000
  local v = {
    -- 45 digits like RBTracking.idGenerator(): 32 "random" (here: unique) digits + ms time
    hash = string.format("%06d%02d%024d%013d", nonce % 1000000, (tid or 1) % 100,
      session_counter, now_ms),
    q = 0,
    last = now_ms,
    lang = one(LANGS),
  }
  if math.random() < bot_share then
    v.bot = true
    v.ua = bots[pick(bot_cum, math.random())]
    v.left = 1
    v.screen = {1920, 1080}
  else
    local i = pick(browser_cum, math.random())
    v.ua = browsers[i]
    v.screen = one(browser_mobile[i] and PHONE_SCREENS or DESKTOP_SCREENS)
    -- 45 % bounce; the others read a few pages (geometric, mean ~4 more)
    v.left = 1
    if math.random() >= 0.45 then
      v.left = 2 + math.floor(-math.log(1 - math.random()) * 3)
      if v.left > 30 then v.left = 30 end
    end
  end
  return v
end

local function json_escape(s)
  return (s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end))
end

function delay()
  if deadline == nil then
    t_first = now_us()
    deadline = t_first + active_us
  elseif now_us() >= deadline then
    if dump then dump:flush() end
    return 3600000 -- done: let the requests in flight finish, send nothing more
  end
  return 0
end

function request()
  if deadline == nil then
    -- wrk calls request() once on thread 1 before the run, to count pipelined requests;
    -- that request is never sent, so it must not advance a visitor or the counters.
    return wrk.format("POST", nil, {["Content-Type"] = "text/plain;charset=UTF-8"}, "{}")
  end
  local slot = math.random(POOL)
  local v = visitors[slot]
  if v == nil or v.left == 0 then
    v = new_visitor()
    visitors[slot] = v
  end
  v.q = v.q + 1
  v.left = v.left - 1
  local url, title, referrer, lp, prev
  if v.q == 1 then
    url, title, referrer, lp = landing()
    prev = "null"
  else
    local page = PAGES[math.random(#PAGES)]
    url, title, referrer, lp = SITE .. page[1], page[2], v.url, ""
    prev = tostring(math.random(3000, 240000))
  end
  v.url = url
  local ts = os.time() * 1000
  if ts <= v.last then ts = v.last + 1 end
  v.last = ts
  local body = string.format(
    '{"h":"%s","s":"%s","hits":[{"q":%d,"u":"%s","t":"%s","r":"%s","ts":%d,' ..
    '"sw":%d,"sh":%d,"l":"%s","p":%s%s}]}',
    host_client, v.hash, v.q, json_escape(url), json_escape(title), json_escape(referrer), ts,
    v.screen[1], v.screen[2], v.lang, prev, lp)
  sent = sent + 1
  if v.bot then sent_bots = sent_bots + 1 end
  if dump then dump:write(v.ua, "\t", body, "\n") end
  local headers = {
    ["Content-Type"] = "text/plain;charset=UTF-8",
    ["User-Agent"] = v.ua,
    ["Origin"] = SITE,
    ["Referer"] = SITE .. "/",
    ["Accept"] = "*/*",
    ["Accept-Language"] = v.lang .. ",pt;q=0.9,en-US;q=0.8,en;q=0.7",
    ["Accept-Encoding"] = "gzip, deflate, br",
    ["Sec-Fetch-Mode"] = "cors",
    ["Sec-Fetch-Site"] = "cross-site",
    ["Sec-Fetch-Dest"] = "empty",
  }
  return wrk.format("POST", nil, headers, body)
end

function response(status, headers, body)
  replies = replies + 1
  t_last = now_us()
  if status < 300 then r2xx = r2xx + 1
  elseif status < 400 then r3xx = r3xx + 1
  elseif status < 500 then r4xx = r4xx + 1
  else r5xx = r5xx + 1 end
  if status >= 300 then last_bad = status end
end

-- ---------------------------------------------------------------- summary (main state)
function done(summary, latency, requests)
  local t = {sent = 0, sent_bots = 0, replies = 0, r2xx = 0, r3xx = 0, r4xx = 0, r5xx = 0}
  local bad, first, last = 0, nil, 0
  for _, thread in ipairs(threads) do
    for key, _ in pairs(t) do t[key] = t[key] + (thread:get(key) or 0) end
    local b = thread:get("last_bad") or 0
    if b ~= 0 then bad = b end
    local f, l = thread:get("t_first") or 0, thread:get("t_last") or 0
    if f > 0 and (first == nil or f < first) then first = f end
    if l > last then last = l end
  end
  local active = (first and last > first) and (last - first) or 0
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"sent":%d,"sent_bots":%d,"replies":%d,"r2xx":%d,"r3xx":%d,"r4xx":%d,"r5xx":%d,' ..
    '"last_bad_status":%d,"active_us":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean,
    latency.max, t.sent, t.sent_bots, t.replies, t.r2xx, t.r3xx, t.r4xx, t.r5xx, bad, active))
end
