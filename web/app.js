/* app.js: memprobed's live page: the process table and, for the selected process, heap and stack charts and a flame graph of its call sites, drawn as SVG. */
'use strict';

(function () {
	const REFRESH_MS = 1000;
	const STATUS_EVERY = 5;         /* refreshes between two /api/v1/status */
	const SVG_NS = 'http://www.w3.org/2000/svg';
	const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
	const FLAME_TOP = 65536;        /* every call site the daemon keeps */
	const FLAME_EVERY = 5;          /* refreshes between two fetches of the call sites */
	const FLAME_ROW = 18;           /* px a frame's row */
	const FLAME_PAD = 4;            /* px of text inset */
	const FLAME_CHAR_W = 6.7;       /* px a character of the 11 px monospace labels */
	const FLAME_MIN_W = 0.5;        /* px: narrower frames are not drawn */

	const state = {
		procs: [],
		sortKey: 'heap',
		sortDir: -1,            /* -1 largest first, 1 smallest first */
		filter: '',
		showExited: false,      /* remembered in localStorage */
		selected: null,         /* pid */
		pinned: false,          /* chosen by the user (or the URL), not by default */
		detail: null,           /* /api/v1/processes/{pid} */
		history: null,          /* /api/v1/processes/{pid}/history */
		detailError: null,
		round: 0,
		hover: { 'heap-chart': null, 'stack-chart': null },
		flame: flameState('inuse'),
	};

	/* The call sites of the selected process and how they are drawn. */
	function flameState(mode) {
		return {
			mode: mode,             /* the switch: 'inuse' or 'alloc' */
			pid: null,              /* whose call sites were last asked for */
			seq: 0,                 /* requests made; a late answer to an older one is dropped */
			loaded: null,           /* the round of the last answer */
			data: null,             /* /api/v1/processes/{pid}/sites */
			error: null,            /* shown in place of the graph */
			sig: null,              /* data as JSON, to see when it changed */
			version: 0,             /* bumped when data changed */
			tree: null,             /* {version, mode, root}: flameTree(data) */
			zoom: [],               /* path of the zoomed frame; [] the root */
			hover: null,            /* data-path of the frame pointed at */
			drawn: null,            /* {key, cells, mode, total} of the drawing */
		};
	}

	const $ = (id) => document.getElementById(id);

	/* ---- units ---- */

	/* "512 B", "1.5 KiB", "64.1 MiB": one decimal in binary units, as memprobectl prints. */
	function fmtBytes(b) {
		if (b === null || b === undefined || !isFinite(b)) return '–';
		if (b < 1024) return Math.round(b) + ' B';
		let k = 0;
		let v = b;
		while (v >= 1024 && k < UNITS.length - 1) { v /= 1024; k++; }
		if (v >= 1023.95 && k < UNITS.length - 1) { v /= 1024; k++; }
		return v.toFixed(1) + ' ' + UNITS[k];
	}

	function fmtCount(n) {
		if (n === null || n === undefined || !isFinite(n)) return '–';
		return Math.round(n).toLocaleString('en-US');
	}

	function fmtPct(part, whole) {
		if (!whole || part === null || part === undefined) return '–';
		const p = part * 100 / whole;
		if (part === 0) return '0%';
		if (p < 0.1) return '<0.1%';
		if (p < 9.95) return p.toFixed(1) + '%';
		return Math.round(p) + '%';
	}

	/* A figure with thousands separators and at most three decimals: "1,234,567", "0.25". */
	function fmtNumber(v) {
		if (v === null || v === undefined || !isFinite(v)) return '–';
		return v.toLocaleString('en-US', { maximumFractionDigits: Math.abs(v) < 1 ? 3 : 2 });
	}

	/*
	 * A program gauge has no declared unit; its name says it, as Prometheus
	 * names do ("cache.bytes", "rss_bytes", "lag_seconds"). Anything else is
	 * a count. A gauge that is not a number (NaN) is null in the API.
	 */
	function fmtGauge(name, v) {
		if (v === null) return 'NaN';
		const n = name.toLowerCase();
		if (/bytes$/.test(n) && v >= 0) return fmtBytes(v);
		if (/(seconds|secs)$/.test(n) && v >= 0) return v < 1 ? fmtNumber(v * 1000) + ' ms' : fmtDuration(v);
		return fmtNumber(v);
	}

	function fmtDuration(s) {
		if (s === null || s === undefined || !isFinite(s)) return '–';
		if (s < 10) return s.toFixed(1) + ' s';
		s = Math.round(s);
		if (s < 60) return s + ' s';
		if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
		if (s < 86400) return Math.floor(s / 3600) + ' h ' + Math.floor(s % 3600 / 60) + ' min';
		return Math.floor(s / 86400) + ' d ' + Math.floor(s % 86400 / 3600) + ' h';
	}

	/* "−30 s", "−2 min", "now": a time relative to the newest point. */
	function fmtAgo(s, live) {
		if (Math.abs(s) < 0.5) return live ? 'now' : 'exit';
		s = Math.round(-s);
		if (s % 60 === 0 && s >= 60) return '\u2212' + s / 60 + ' min';
		return '\u2212' + s + ' s';
	}

	/* ---- DOM ---- */

	/* An element with attributes and children (strings become text, never HTML). */
	function el(tag, attrs, ...kids) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (k === 'class') e.className = v;
			else if (v !== null && v !== undefined) e.setAttribute(k, v);
		}
		for (const k of kids) {
			if (k === null || k === undefined) continue;
			e.append(typeof k === 'string' ? document.createTextNode(k) : k);
		}
		return e;
	}

	function svgEl(tag, attrs, text) {
		const e = document.createElementNS(SVG_NS, tag);
		for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
		if (text !== undefined) e.textContent = text;
		return e;
	}

	function num(obj, ...path) {
		let v = obj;
		for (const k of path) {
			if (v === null || v === undefined) return null;
			v = v[k];
		}
		return typeof v === 'number' && isFinite(v) ? v : null;
	}

	/* ---- fetching ---- */

	async function getJSON(path) {
		const r = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
		if (!r.ok) {
			let msg = 'HTTP ' + r.status;
			try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
			const err = new Error(msg);
			err.status = r.status;
			throw err;
		}
		return r.json();
	}

	function setStatus(text, ok) {
		const s = $('status');
		s.textContent = text;
		s.className = 'status ' + (ok ? 'ok' : 'bad');
	}

	async function refreshStatus() {
		try {
			const st = await getJSON('/api/v1/status');
			const c = st.counts || {};
			$('daemon').textContent = 'memprobed ' + (st.version || '?') + ' \u00b7 up ' +
			    fmtDuration(st.uptime_seconds) + ' \u00b7 ' + fmtCount(c.processes_live) +
			    ' live, ' + fmtCount(c.processes_exited) + ' exited \u00b7 ' +
			    fmtCount(c.agents_connected) + (c.agents_connected === 1 ? ' agent' : ' agents');
		} catch (e) { /* the table's refresh reports the failure */ }
	}

	async function refresh() {
		if (state.round++ % STATUS_EVERY === 0) refreshStatus();
		try {
			const list = await getJSON('/api/v1/processes');
			state.procs = Array.isArray(list.processes) ? list.processes : [];
			setStatus('live \u00b7 updated ' + new Date().toLocaleTimeString('en-GB'), true);
		} catch (e) {
			setStatus('memprobed unreachable (' + e.message + '); retrying', false);
			return;
		}
		chooseDefault();
		renderTable();
		if (state.selected !== null) {
			const pid = state.selected;
			try {
				const [detail, hist] = await Promise.all([
					getJSON('/api/v1/processes/' + pid),
					getJSON('/api/v1/processes/' + pid + '/history'),
				]);
				if (pid !== state.selected) return;
				state.detail = detail;
				state.history = hist;
				state.detailError = null;
				if (sitesDue(pid)) await loadSites(pid);
			} catch (e) {
				if (pid !== state.selected) return;
				state.detailError = e.status === 404 ?
				    'memprobed no longer tracks process ' + pid + '.' : e.message;
			}
			renderDetail();
		}
	}

	function loop() {
		const t0 = performance.now();
		refresh().finally(() => {
			markWidth();
			const wait = Math.max(100, REFRESH_MS - (performance.now() - t0));
			setTimeout(() => {
				/* A hidden tab costs the daemon nothing. */
				if (document.hidden) document.addEventListener('visibilitychange', loop, { once: true });
				else loop();
			}, wait);
		});
	}

	/* ---- the table ---- */

	// How an exited process ended, where memprobed could tell.
	function howEnded(p) {
		if (typeof p.exit_signal === 'number')
			return ' (killed by signal ' + p.exit_signal + ')';
		if (typeof p.exit_code === 'number')
			return ' (exit status ' + p.exit_code + ')';
		return '';
	}

	function rowOf(p) {
		const stack = num(p, 'stack', 'peak_bytes');
		const limit = num(p, 'stack', 'limit_bytes');
		return {
			pid: p.pid,
			comm: typeof p.comm === 'string' ? p.comm : '',
			state: p.state === 'exited' ? 'exited' : 'live',
			heap: num(p, 'heap', 'live_bytes'),
			peak: num(p, 'heap', 'peak_bytes'),
			blocks: num(p, 'heap', 'live_blocks'),
			stack: stack,
			limit: limit,
			stackpct: stack !== null && limit ? stack / limit : null,
			rss: num(p, 'proc', 'resident_bytes'),
			threads: num(p, 'threads'),
			ago: num(p, 'exited_seconds_ago'),
			p: p,
		};
	}

	function sortedRows() {
		const key = state.sortKey;
		const dir = state.sortDir;
		const f = state.filter.trim().toLowerCase();
		let rows = state.procs.map(rowOf);
		/* The selected process stays in view when it exits. */
		if (!state.showExited) rows = rows.filter((r) => r.state !== 'exited' || r.pid === state.selected);
		if (f) rows = rows.filter((r) => r.comm.toLowerCase().includes(f) || String(r.pid).startsWith(f));
		rows.sort((a, b) => {
			/* Live processes before exited ones, whatever the order. */
			if (a.state !== b.state) return a.state === 'exited' ? 1 : -1;
			const x = a[key];
			const y = b[key];
			/* Missing figures last, whatever the direction. */
			if ((x === null) !== (y === null)) return x === null ? 1 : -1;
			if (x !== y && x !== null) {
				if (typeof x === 'string') return dir * x.localeCompare(y);
				return dir * (x < y ? -1 : 1);
			}
			return a.pid - b.pid;
		});
		return rows;
	}

	/* With nothing chosen yet, the first process in the table's order. */
	function chooseDefault() {
		if (state.pinned && state.selected !== null) return;
		const rows = sortedRows();
		const keep = rows.some((r) => r.pid === state.selected);
		if (!keep) select(rows.length ? rows[0].pid : null, false);
	}

	function select(pid, pinned) {
		if (pid !== state.selected) {
			state.detail = null;
			state.history = null;
			state.detailError = null;
			state.hover = { 'heap-chart': null, 'stack-chart': null };
			state.flame = flameState(state.flame.mode);
		}
		state.selected = pid;
		state.pinned = pinned;
		if (pinned && pid !== null) history.replaceState(null, '', '#pid=' + pid);
	}

	function renderTable() {
		const rows = sortedRows();
		const tbody = $('procs').tBodies[0];
		const frag = document.createDocumentFragment();
		for (const r of rows) {
			const tr = el('tr', {
				'data-pid': r.pid,
				class: [r.state === 'exited' ? 'exited' : '', r.pid === state.selected ? 'selected' : ''].join(' ').trim() || null,
				title: r.p.exe || '',
			},
			el('td', { class: 'num' }, String(r.pid)),
			el('td', { class: 'comm' }, r.comm || '?'),
			el('td', {}, el('span', { class: 'pill ' + r.state },
			    r.state === 'exited' && r.ago !== null ? 'exited ' + fmtDuration(r.ago) + ' ago' : r.state)),
			el('td', { class: 'num' }, fmtBytes(r.heap)),
			el('td', { class: 'num opt' }, fmtBytes(r.peak)),
			el('td', { class: 'num opt' }, fmtCount(r.blocks)),
			el('td', { class: 'num' }, fmtBytes(r.stack)),
			el('td', { class: 'num opt' + (r.stackpct !== null && r.stackpct >= 0.5 ? ' pct-hi' : ''),
			    title: r.limit ? 'limit ' + fmtBytes(r.limit) : 'no limit known' },
			    r.limit ? fmtPct(r.stack, r.limit) + ' of ' + fmtBytes(r.limit) : '–'),
			el('td', { class: 'num' }, fmtBytes(r.rss)),
			el('td', { class: 'num opt' }, fmtCount(r.threads)));
			frag.append(tr);
		}
		tbody.replaceChildren(frag);
		$('empty').hidden = state.procs.length !== 0;
		const live = state.procs.filter((p) => p.state !== 'exited').length;
		const exited = state.procs.length - live;
		$('show-exited-n').textContent = '(' + exited + ')';
		$('count').textContent = rows.length === state.procs.length ?
		    state.procs.length + ' tracked, ' + live + ' live' :
		    rows.length + ' of ' + state.procs.length + ' shown';
		for (const th of $('procs').tHead.rows[0].cells) {
			const on = th.dataset.key === state.sortKey;
			th.classList.toggle('sorted', on);
			th.classList.toggle('asc', on && state.sortDir > 0);
			th.setAttribute('aria-sort', on ? (state.sortDir > 0 ? 'ascending' : 'descending') : 'none');
		}
	}

	/* ---- charts ---- */

	/* Axis ticks for 0..max in binary units: {top, step, unit, div}. */
	function byteTicks(max) {
		if (!(max > 0)) max = 1024;
		let k = 0;
		while (max / Math.pow(1024, k) >= 1024 && k < UNITS.length - 1) k++;
		const div = Math.pow(1024, k);
		const raw = max / div;
		const rough = raw / 4;
		const mag = Math.pow(10, Math.floor(Math.log10(rough)));
		let step = mag;
		for (const m of [1, 2, 2.5, 5, 10]) {
			if (m * mag >= rough) { step = m * mag; break; }
		}
		const top = Math.max(step, Math.ceil(raw / step - 1e-9) * step);
		return { top: top * div, step: step * div, unit: UNITS[k], div: div };
	}

	function tickLabel(v, t) {
		if (v === 0) return '0';
		const x = v / t.div;
		return (Number.isInteger(x) ? String(x) : x.toFixed(x < 10 ? 1 : 0)) + ' ' + t.unit;
	}

	/* Ticks of the time axis, seconds back from the newest point. */
	function timeTicks(span) {
		const steps = [2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
		let step = steps[steps.length - 1];
		for (const s of steps) {
			if (span / s <= 6) { step = s; break; }
		}
		const out = [];
		for (let s = 0; s <= span + 1e-9; s += step) out.push(-s);
		return out;
	}

	/*
	 * Draws series over time into the SVG of figure `id`:
	 *   times: seconds since the epoch, oldest first;
	 *   series: [{cls, label, values, area}];
	 *   limit: {value, label} drawn as a line when it is on the scale;
	 *   live: whether the newest point is now.
	 * Marks the SVG with data-points (points per line) for tests and tools.
	 */
	function drawChart(id, times, series, limit, live) {
		const svg = document.querySelector('#' + id + ' svg');
		const W = Math.max(320, Math.round(svg.clientWidth || svg.getBoundingClientRect().width || 600));
		const H = Math.max(160, Math.round(svg.clientHeight || 230));
		const m = { l: 70, r: 14, t: 12, b: 26 };
		const w = W - m.l - m.r;
		const h = H - m.t - m.b;
		svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
		svg.replaceChildren();
		svg.dataset.points = String(times.length);

		if (times.length === 0) {
			svg.append(svgEl('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'note' },
			    'Waiting for samples\u2026'));
			return;
		}
		let max = 0;
		for (const s of series) for (const v of s.values) if (v > max) max = v;
		const showLimit = limit && limit.value > 0 && limit.value <= max * 4;
		if (showLimit) max = Math.max(max, limit.value);
		const yt = byteTicks(max * 1.05);
		const tEnd = times[times.length - 1];
		/* The whole history, at least 10 s: a young process fills the chart too. */
		const span = Math.max(10, tEnd - times[0]);
		const X = (t) => m.l + (t - (tEnd - span)) / span * w;
		const Y = (v) => m.t + h - Math.min(v, yt.top) / yt.top * h;
		const r1 = (v) => Math.round(v * 10) / 10;

		const grid = svgEl('g', {});
		for (let v = 0; v <= yt.top + yt.step / 2; v += yt.step) {
			const y = r1(Y(v));
			grid.append(svgEl('line', { class: v === 0 ? 'axis' : 'grid', x1: m.l, x2: m.l + w, y1: y, y2: y }));
			grid.append(svgEl('text', { x: m.l - 8, y: y + 4, 'text-anchor': 'end' }, tickLabel(v, yt)));
		}
		for (const s of timeTicks(span)) {
			const x = r1(X(tEnd + s));
			grid.append(svgEl('line', { class: 'grid', x1: x, x2: x, y1: m.t, y2: m.t + h }));
			grid.append(svgEl('text', { x: x, y: H - 8, 'text-anchor': s === 0 ? 'end' : 'middle' }, fmtAgo(s, live)));
		}
		svg.append(grid);

		for (const s of series) {
			const pts = s.values.map((v, i) => r1(X(times[i])) + ',' + r1(Y(v)));
			if (s.area && pts.length > 1) {
				const base = r1(Y(0));
				svg.append(svgEl('path', {
					class: 'area ' + s.cls,
					d: 'M' + r1(X(times[0])) + ',' + base + 'L' + pts.join('L') + 'L' + r1(X(tEnd)) + ',' + base + 'Z',
				}));
			}
			svg.append(svgEl('polyline', { class: 'line ' + s.cls, points: pts.join(' '), 'data-series': s.cls }));
			/* A single point is no line: mark it. */
			if (pts.length === 1) {
				svg.append(svgEl('circle', { class: 'dot ' + s.cls, cx: r1(X(times[0])), cy: r1(Y(s.values[0])), r: 3 }));
			}
		}
		if (showLimit) {
			const y = r1(Y(limit.value));
			svg.append(svgEl('line', { class: 'limit', x1: m.l, x2: m.l + w, y1: y, y2: y }));
			svg.append(svgEl('text', { class: 'limit-label', x: m.l + 6, y: y - 5 }, limit.label));
		} else if (limit && limit.value > 0) {
			/* Drawn to scale, the limit would flatten the line it bounds. */
			svg.append(svgEl('text', { class: 'limit-label', x: m.l + w - 4, y: m.t + 12, 'text-anchor': 'end' },
			    limit.label + ' \u2191 above the scale'));
		}

		/* Hover: a guide at the nearest point and its figures. */
		const tip = svgEl('g', { class: 'tip' });
		svg.append(tip);
		const overlay = svgEl('rect', { x: m.l, y: m.t, width: w, height: h, fill: 'transparent' });
		svg.append(overlay);
		const showTip = (i) => {
			tip.replaceChildren();
			if (i === null || i < 0 || i >= times.length) return;
			const x = r1(X(times[i]));
			tip.append(svgEl('line', { class: 'guide', x1: x, x2: x, y1: m.t, y2: m.t + h }));
			const lines = [fmtAgo(times[i] - tEnd, live)];
			for (const s of series) {
				tip.append(svgEl('circle', { class: 'dot ' + s.cls, cx: x, cy: r1(Y(s.values[i])), r: 3.5 }));
				lines.push(s.label + ': ' + fmtBytes(s.values[i]));
			}
			const bw = 170;
			const bh = 8 + 16 * lines.length;
			const bx = x + bw + 12 > m.l + w ? x - bw - 10 : x + 10;
			tip.append(svgEl('rect', { class: 'tip-bg', x: bx, y: m.t + 4, width: bw, height: bh, rx: 4 }));
			lines.forEach((t, k) => tip.append(svgEl('text', { x: bx + 8, y: m.t + 20 + 16 * k }, t)));
		};
		const nearest = (ev) => {
			const r = svg.getBoundingClientRect();
			const px = (ev.clientX - r.left) * W / r.width;
			let best = 0;
			for (let i = 1; i < times.length; i++) {
				if (Math.abs(X(times[i]) - px) < Math.abs(X(times[best]) - px)) best = i;
			}
			return best;
		};
		overlay.addEventListener('mousemove', (ev) => {
			/* Kept as seconds back, so the guide stays put as points arrive. */
			const i = nearest(ev);
			state.hover[id] = times[i] - tEnd;
			showTip(i);
		});
		overlay.addEventListener('mouseleave', () => { state.hover[id] = null; showTip(null); });
		if (state.hover[id] !== null) {
			const want = tEnd + state.hover[id];
			let best = 0;
			for (let i = 1; i < times.length; i++) {
				if (Math.abs(times[i] - want) < Math.abs(times[best] - want)) best = i;
			}
			showTip(best);
		}
	}

	function legend(id, items) {
		const box = document.querySelector('#' + id + ' .legend');
		box.replaceChildren(...items.map((it) => el('span', {},
		    el('span', { class: 'key ' + it.cls }), it.label + ' ', el('b', {}, it.value))));
	}

	/* ---- the selected process ---- */

	/* A figure's card: name K, value V, a line S under it, a meter (0 to 1)
	 * and a tooltip TITLE, each optional. */
	function card(k, v, s, meter, title) {
		const c = el('div', { class: 'card' }, el('div', { class: 'k' }, k), el('div', { class: 'v' }, v));
		if (title) c.title = title;
		if (s) c.append(el('div', { class: 's' }, s));
		if (meter !== undefined && meter !== null) {
			const fill = el('div', {});
			/* Set through the CSSOM: the CSP allows no style attributes. */
			fill.style.width = Math.min(100, Math.max(0, meter * 100)).toFixed(2) + '%';
			c.append(el('div', { class: 'meter' + (meter >= 0.5 ? ' hi' : '') }, fill));
		}
		return c;
	}

	function renderCards(p) {
		const stack = num(p, 'stack', 'peak_bytes');
		const mainPeak = num(p, 'stack', 'main_peak_bytes');
		const limit = num(p, 'stack', 'limit_bytes');
		const cards = [
			card('Heap live', fmtBytes(num(p, 'heap', 'live_bytes')),
			    fmtCount(num(p, 'heap', 'live_blocks')) + ' blocks'),
			card('Heap peak', fmtBytes(num(p, 'heap', 'peak_bytes')),
			    fmtCount(num(p, 'heap', 'allocations')) + ' allocations, ' +
			    fmtCount(num(p, 'heap', 'frees')) + ' frees'),
			card('Stack peak', fmtBytes(stack),
			    limit ? fmtPct(stack, limit) + ' of ' + fmtBytes(limit) + ' limit' : 'no limit known',
			    limit && stack !== null ? stack / limit : null, stackExactness(p)),
			card('Main thread stack', fmtBytes(mainPeak),
			    limit && mainPeak !== null ? fmtPct(mainPeak, limit) + ' of its limit' : '', null,
			    stackExactness(p)),
			card('Resident (/proc)', fmtBytes(num(p, 'proc', 'resident_bytes')),
			    'peak ' + fmtBytes(num(p, 'proc', 'resident_peak_bytes'))),
			card('mmap live', fmtBytes(num(p, 'mmap_live_bytes')), 'anonymous, not heap'),
			card('Threads', fmtCount(num(p, 'threads')),
			    fmtCount(num(p, 'samples')) + ' samples received'),
		];
		$('cards').replaceChildren(...cards);
	}

	/*
	 * Which stack figure is exact, from where memprobed read it
	 * (stack.resident_source): resident pages are a high-water mark that
	 * no recursion escapes; stack pointers are seen only at allocations.
	 */
	function stackExactness(p) {
		const src = p.stack ? p.stack.resident_source : null;
		if (src === 'pagemap')
			return 'Stack bytes are exact high-water marks: the deepest stack page each thread touched (to 4 KiB).';
		if (src === 'vmstk')
			return 'Stack bytes: the main thread\u2019s is exact, the size its stack mapping grew to (VmStk); ' +
			    'other threads\u2019 are sampled, from stack pointers seen at allocations.';
		return 'Stack bytes are sampled, from stack pointers seen at allocations: a recursion that allocates nothing can be missed.';
	}

	/* What the Python agent's depth in frames is. */
	const PY_DEPTH_NOTE = 'Stack depth in frames is sampled by the Python agent once per interval, ' +
	    'unless it counts every call (exact_depth): a recursion shorter than the interval can be missed.';

	function renderHistogram(p) {
		const hist = p.histogram;
		const rows = $('hist').querySelector('.hist-rows');
		if (!hist || !Array.isArray(hist.buckets) || hist.buckets.length === 0) {
			rows.replaceChildren(el('span', { class: 'muted' }, 'not reported yet'));
			$('hist-sub').textContent = '';
			return;
		}
		const total = hist.buckets.reduce((a, b) => a + (b.count || 0), 0);
		const max = hist.buckets.reduce((a, b) => Math.max(a, b.count || 0), 0);
		$('hist-sub').textContent = fmtCount(total) + ' allocations, ' + fmtBytes(hist.sum) + ' in all';
		const kids = [];
		let prev = null;
		for (const b of hist.buckets) {
			const label = b.le === null ? '> ' + fmtBound(prev) : '\u2264 ' + fmtBound(b.le);
			prev = b.le;
			const fill = el('div', {});
			fill.style.width = (max ? (b.count || 0) / max * 100 : 0).toFixed(2) + '%';
			kids.push(el('span', { class: 'lbl' }, label), el('div', { class: 'bar' }, fill),
			    el('span', { class: 'cnt' }, fmtCount(b.count)),
			    el('span', { class: 'shr' }, b.count ? fmtPct(b.count, total) : ''));
		}
		rows.replaceChildren(...kids);
	}

	/* Bucket bounds are powers of two: "16 B", "4 KiB", "16 MiB". */
	function fmtBound(v) {
		if (v === null || v === undefined) return '?';
		let k = 0;
		while (v >= 1024 && v % 1024 === 0 && k < UNITS.length - 1) { v /= 1024; k++; }
		return v + ' ' + UNITS[k];
	}

	/* Rows of [name, figure, what a hover shows (optional: the exact value, or a note)]. */
	function kvTable(rows) {
		return el('table', { class: 'kv' }, ...rows.map(([k, v, exact]) =>
		    el('tr', {}, el('td', {}, k), el('td', { class: 'num', title: exact }, v))));
	}

	function renderMore(p) {
		const parts = [];
		parts.push(el('h3', {}, 'Process'));
		parts.push(kvTable([
			['executable', p.exe || '–'],
			['agents', (p.agents || []).join(', ') || '–'],
			['uid', fmtCount(p.uid)],
			['tracked for', fmtDuration(p.tracked_seconds)],
			['allocated in all', fmtBytes(num(p, 'heap', 'allocated_bytes'))],
			['failed allocations', fmtCount(num(p, 'heap', 'failed_allocations'))],
			['data segment (/proc)', fmtBytes(num(p, 'proc', 'data_bytes'))],
			['stack mapped (/proc)', fmtBytes(num(p, 'proc', 'stack_mapped_bytes'))],
		]));
		const py = p.python;
		if (py) {
			const gc = py.gc || {};
			const gen = (a) => Array.isArray(a) ? a.map(fmtCount).join(' / ') : '–';
			parts.push(el('h3', {}, 'Python'));
			parts.push(kvTable([
				['allocated blocks', fmtCount(py.allocated_blocks)],
				['stack depth peak', fmtCount(py.stack_depth_peak) + ' frames of ' + fmtCount(py.recursion_limit) +
				    ' (' + fmtPct(py.stack_depth_peak, py.recursion_limit) + ')', PY_DEPTH_NOTE],
				['gc collections (gen 0/1/2)', gen(gc.collections)],
				['gc collected', gen(gc.collected)],
				['gc uncollectable', gen(gc.uncollectable)],
				['gc pending now', gen(gc.count)],
			]));
			parts.push(el('p', { class: 'muted' }, PY_DEPTH_NOTE));
		}
		const gauges = Object.entries(p.gauges || {});
		if (gauges.length) {
			parts.push(el('h3', {}, 'Gauges (set by the program)'));
			parts.push(kvTable(gauges.map(([k, v]) => [k, fmtGauge(k, v), v === null ? 'NaN' : String(v)])));
		}
		parts.push(el('p', { class: 'muted' }, 'Stack figures are the deepest thread and the main thread; the agent does not send each thread\u2019s peak. ' +
		    stackExactness(p)));
		$('more').replaceChildren(...parts);
	}

	function renderDetail() {
		const sec = $('detail');
		if (state.selected === null) { sec.hidden = true; return; }
		sec.hidden = false;
		const p = state.detail;
		const hist = state.history;
		$('detail-body').hidden = !p;
		if (!p) {
			$('detail-title').textContent = 'Process ' + state.selected;
			$('detail-sub').textContent = state.detailError ?
			    state.detailError + ' Pick one in the table.' : 'loading\u2026';
			return;
		}
		const live = p.state !== 'exited';
		$('detail-title').textContent = (p.comm || '?') + ' \u00b7 pid ' + p.pid;
		$('detail-sub').textContent = state.detailError ? state.detailError :
		    (live ? 'live' : 'exited ' + fmtDuration(p.exited_seconds_ago) + ' ago' + howEnded(p)) +
		    (p.exe ? ' \u00b7 ' + p.exe : '');
		renderCards(p);

		const samples = hist && Array.isArray(hist.samples) ? hist.samples : [];
		const times = samples.map((s) => s.time);
		const heapLive = samples.map((s) => s.heap_live_bytes || 0);
		const heapPeak = samples.map((s) => s.heap_peak_bytes || 0);
		const stackPeak = samples.map((s) => s.stack_peak_bytes || 0);
		const limit = num(p, 'stack', 'limit_bytes');
		drawChart('heap-chart', times, [
			{ cls: 'heap', label: 'live', values: heapLive, area: true },
			{ cls: 'peak', label: 'peak', values: heapPeak },
		], null, live);
		legend('heap-chart', [
			{ cls: 'heap', label: 'live', value: fmtBytes(num(p, 'heap', 'live_bytes')) },
			{ cls: 'peak', label: 'peak', value: fmtBytes(num(p, 'heap', 'peak_bytes')) },
		]);
		const stack = num(p, 'stack', 'peak_bytes');
		drawChart('stack-chart', times, [
			{ cls: 'stack', label: 'stack peak', values: stackPeak, area: true },
		], limit ? { value: limit, label: 'limit ' + fmtBytes(limit) } : null, live);
		legend('stack-chart', [
			{ cls: 'stack', label: 'peak', value: fmtBytes(stack) },
			{ cls: 'limit', label: 'limit',
			  value: limit ? fmtBytes(limit) + ' \u00b7 ' + fmtPct(stack, limit) + ' used' : 'none known' },
		]);
		renderFlame();
		renderHistogram(p);
		renderMore(p);
	}

	/* ---- heap by call site: a flame graph (icicle) ---- */

	/*
	 * The sampled call sites of /api/v1/processes/{pid}/sites, merged into a
	 * tree of callers: the root is the whole heap, its children the outermost
	 * callers (main, _start), each frame's children the functions it called
	 * on the way to malloc. Native frames merge by name, as flame graphs do;
	 * Python frames (kind "python", in a CPython process) by name and file,
	 * as "<module>" is in every file.
	 */

	const baseName = (path) => path.replace(/.*\//, '');

	/* Whether F is a Python frame. */
	const isPy = (f) => f.kind === 'python';

	/* A frame's name: its function, else its address and mapping. */
	function frameName(f) {
		if (typeof f.function === 'string' && f.function) return f.function;
		const where = typeof f.mapping === 'string' && f.mapping ? ' (' + baseName(f.mapping) + ')' : '';
		return (typeof f.address === 'string' ? f.address : '?') + where;
	}

	/* What frames merge by, and a frame's place in a path (data-path): its
	 * name, and for a Python frame its file's base name too,
	 * "load_rows (rows.py)". */
	function frameKey(f) {
		const name = frameName(f);
		return isPy(f) && typeof f.file === 'string' && f.file ? name + ' (' + baseName(f.file) + ')' : name;
	}

	function frameNode(key, name, py, parent) {
		return { key: key, name: name, py: py, parent: parent, depth: parent ? parent.depth + 1 : 0,
			bytes: 0, objects: 0, file: null, line: null, kids: new Map() };
	}

	/* Keeps the file:line of a merged frame while every frame merged agrees. */
	function noteWhere(node, f, first) {
		const file = typeof f.file === 'string' && f.file ? f.file : null;
		const line = typeof f.line === 'number' && f.line > 0 ? f.line : null;
		if (first) { node.file = file; node.line = line; return; }
		if (node.file !== file) { node.file = null; node.line = null; }
		else if (node.line !== line) node.line = null;
	}

	/*
	 * The tree of DATA's sites weighted by MODE ('inuse' or 'alloc'): nodes
	 * {key, name, py, parent, depth, bytes, objects, file, line, kids}, kids
	 * by key; the root's anyPy says whether any frame is Python. Sites with
	 * no frames ("[other]") hang from the root under their function's name.
	 */
	function flameTree(data, mode) {
		const root = frameNode('all', 'all', false, null);
		for (const s of Array.isArray(data.sites) ? data.sites : []) {
			const bytes = num(s, mode + '_bytes');
			if (!(bytes > 0)) continue;
			const objects = num(s, mode + '_objects') || 0;
			const frames = Array.isArray(s.frames) && s.frames.length ? s.frames.slice().reverse() :
			    [{ function: typeof s.function === 'string' ? s.function : null, file: s.file, line: s.line }];
			let node = root;
			node.bytes += bytes;
			node.objects += objects;
			for (const f of frames) {
				if (f === null || typeof f !== 'object') continue;
				const key = frameKey(f);
				let kid = node.kids.get(key);
				const first = !kid;
				if (first) node.kids.set(key, kid = frameNode(key, frameName(f), isPy(f), node));
				if (kid.py) root.anyPy = true;
				noteWhere(kid, f, first);
				kid.bytes += bytes;
				kid.objects += objects;
				node = kid;
			}
		}
		return root;
	}

	/* The node at PATH (keys from the root's child down), or null. */
	function flameFind(root, path) {
		let node = root;
		for (const key of path) {
			node = node.kids.get(key);
			if (!node) return null;
		}
		return node;
	}

	function flamePath(node) {
		const path = [];
		for (let n = node; n.parent; n = n.parent) path.unshift(n.key);
		return path;
	}


	/*
	 * The cells to draw for ROOT zoomed to ZOOM in WIDTH px: ZOOM and its
	 * callers span the width, ZOOM's callees share it by bytes, largest
	 * first. Cells narrower than MIN_W are left out (their bytes still count
	 * in their caller's cell). Returns [{node, x, w, depth}], callers first.
	 */
	function flameLayout(zoom, width, minW) {
		const cells = [];
		for (let n = zoom; n; n = n.parent) cells.unshift({ node: n, x: 0, w: width, depth: n.depth });
		const scale = zoom.bytes > 0 ? width / zoom.bytes : 0;
		const walk = (node, x) => {
			const kids = [...node.kids.values()].sort((a, b) => b.bytes - a.bytes || (a.key < b.key ? -1 : 1));
			for (const k of kids) {
				const w = k.bytes * scale;
				if (w >= minW) {
					cells.push({ node: k, x: x, w: w, depth: k.depth });
					walk(k, x);
				}
				x += w;
			}
		};
		walk(zoom, 0);
		return cells;
	}

	/* A stable hash of a name (FNV-1a), so a function keeps its colour. */
	function nameHash(name) {
		let h = 0x811c9dc5;
		for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
		return h >>> 0;
	}

	/* A frame's fill: native frames in warm hues (red to yellow, as flame
	 * graphs draw them), Python frames in blues, each function its own. */
	function frameFill(node) {
		const h = nameHash(node.key);
		return node.py ? 'hsl(' + (190 + h % 45) + ', 60%, 70%)' : 'hsl(' + h % 55 + ', 75%, 66%)';
	}

	/* Where a node's function is, "rows.py:12" (the file alone when the
	 * frames merged into it ran different lines), or null. */
	function nodeWhere(node) {
		return node.file ? baseName(node.file) + (node.line ? ':' + node.line : '') : null;
	}

	/* A cell's label: a Python frame's with where it is, "load_rows rows.py:12". */
	function nodeLabel(node) {
		const where = node.py ? nodeWhere(node) : null;
		return where ? node.name + ' ' + where : node.name;
	}

	/* NAME cut to fit W px of monospace text, with an ellipsis; '' when nothing fits. */
	function fitText(name, w) {
		const n = Math.floor((w - 2 * FLAME_PAD) / FLAME_CHAR_W);
		if (n < 3) return '';
		return name.length <= n ? name : name.slice(0, n - 1) + '\u2026';
	}

	/* "leaf_fn · x.c:12 · 12.3 MiB in use · 1,024 objects · 42%", with
	 * "Python" after where a Python frame is. */
	function flameInfo(node, mode, total) {
		return [node.parent ? node.name : 'all call sites', nodeWhere(node), node.py ? 'Python' : null,
			fmtBytes(node.bytes) + (mode === 'inuse' ? ' in use' : ' allocated'),
			fmtCount(node.objects) + (node.objects === 1 ? ' object' : ' objects'),
			fmtPct(node.bytes, total) + ' of the total'].filter((s) => s).join(' \u00b7 ');
	}

	/*
	 * Draws CELLS (flameLayout) into SVG, WIDTH px wide: one <g> a cell,
	 * focusable, with a <title>, its rect and, when it fits, its name. The
	 * cell's index in CELLS is its data-i; its path (names joined by ';', as
	 * in folded stacks) its data-path.
	 */
	function drawFlame(svg, cells, width, zoom, mode, total) {
		let depth = 0;
		for (const c of cells) depth = Math.max(depth, c.depth);
		const height = (depth + 1) * FLAME_ROW;
		svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
		svg.setAttribute('height', String(height));
		const r1 = (v) => Math.round(v * 10) / 10;
		const kids = cells.map((c, i) => {
			const n = c.node;
			const info = flameInfo(n, mode, total);
			const cls = ['frame', n.py ? 'py' : '', n === zoom && n.parent ? 'zoom' : '', n.depth < zoom.depth ? 'caller' : '',
				!n.parent ? 'root' : '', n.name === '[other]' ? 'other' : ''].filter((s) => s).join(' ');
			const g = svgEl('g', { class: cls, tabindex: '0', role: 'button', 'aria-label': info,
				'data-i': String(i), 'data-path': flamePath(n).join(';'), 'data-bytes': String(Math.round(n.bytes)) });
			const rect = { x: r1(c.x), y: c.depth * FLAME_ROW, width: r1(Math.max(c.w - 1, 0.5)), height: FLAME_ROW - 1 };
			/* A presentation attribute, not a style: the CSP allows it. */
			if (n.parent && n.name !== '[other]') rect.fill = frameFill(n);
			g.append(svgEl('title', {}, info), svgEl('rect', rect));
			const text = fitText(n.parent ? nodeLabel(n) : 'all \u00b7 ' + fmtBytes(n.bytes), c.w);
			if (text) g.append(svgEl('text', { x: r1(c.x + FLAME_PAD), y: c.depth * FLAME_ROW + FLAME_ROW - 5 }, text));
			return g;
		});
		svg.replaceChildren(...kids);
		svg.dataset.frames = String(cells.length);
		svg.dataset.width = String(width);
		svg.dataset.mode = mode;
		svg.dataset.zoom = flamePath(zoom).join(';');
	}

	/* A note in place of the graph; WHY marks the figure's data-state
	 * ('loading', 'none': no profile or an error, 'empty': no sample yet;
	 * 'graph' when drawn). */
	function flameNote(text, why) {
		const f = state.flame;
		$('flame-graph').hidden = true;
		$('flame-info').hidden = true;
		$('flame-legend').hidden = true;
		$('flame-reset').disabled = true;
		$('flame-note').hidden = false;
		$('flame-note').textContent = text;
		$('flame').dataset.state = why;
		f.drawn = null;
	}

	function flameSub(data, mode) {
		const parts = [fmtBytes(num(data, 'total', mode + '_bytes')) + (mode === 'inuse' ? ' in use' : ' allocated'),
			fmtCount(num(data, 'samples')) + ' samples, one per ' + fmtBytes(num(data, 'rate')) + ' allocated on average'];
		if (num(data, 'py_samples') > 0) parts.push(fmtCount(data.py_samples) + ' in Python code');
		if (num(data, 'folded') > 0) parts.push(fmtCount(data.folded) + ' folded into [other]');
		if (num(data, 'unwind_failed') > 0) parts.push(fmtCount(data.unwind_failed) + ' stacks not unwound');
		return parts.join(' \u00b7 ');
	}

	/*
	 * Draws the selected process's call sites (state.flame.data) when they,
	 * the zoom or the width changed since the last drawing: a redraw would
	 * lose the keyboard focus and the hover.
	 */
	function renderFlame() {
		const f = state.flame;
		const data = f.data;
		if (f.error) { flameNote(f.error, 'none'); return; }
		if (!data) { flameNote('loading\u2026', 'loading'); return; }
		const mode = data.order === 'alloc' ? 'alloc' : 'inuse';
		$('flame-sub').textContent = flameSub(data, mode);
		const svg = $('flame-svg');
		if (!f.tree || f.tree.version !== f.version || f.tree.mode !== mode)
			f.tree = { version: f.version, mode: mode, root: flameTree(data, mode) };
		const root = f.tree.root;
		$('flame-legend').hidden = !root.anyPy;
		if (!(root.bytes > 0)) {
			flameNote('No allocation sampled yet: about one is in every ' + fmtBytes(num(data, 'rate')) + ' allocated.', 'empty');
			return;
		}
		$('flame-note').hidden = true;
		$('flame-graph').hidden = false;
		$('flame-info').hidden = false;
		const width = Math.max(100, $('flame-graph').clientWidth || 600);
		const key = [f.version, mode, f.zoom.join(';'), width].join('|');
		if (f.drawn && f.drawn.key === key) return;
		const zoom = flameFind(root, f.zoom) || root;
		f.zoom = flamePath(zoom);
		const total = Math.max(root.bytes, num(data, 'total', mode + '_bytes') || 0);
		const focused = document.activeElement && svg.contains(document.activeElement) ?
		    document.activeElement.dataset.path : null;
		const cells = flameLayout(zoom, width, FLAME_MIN_W);
		drawFlame(svg, cells, width, zoom, mode, total);
		f.drawn = { key: key, cells: cells, mode: mode, total: total };
		$('flame').dataset.state = 'graph';
		$('flame-reset').disabled = !zoom.parent;
		showFlameInfo(f.hover !== null ? cells.find((c) => flamePath(c.node).join(';') === f.hover) : null);
		if (focused !== null && focused !== undefined) {
			const g = [...svg.children].find((e) => e.dataset.path === focused);
			if (g) g.focus();
		}
	}

	function showFlameInfo(cell) {
		const f = state.flame;
		const d = f.drawn;
		f.hover = cell ? flamePath(cell.node).join(';') : null;
		$('flame-info').textContent = cell && d ? flameInfo(cell.node, d.mode, d.total) :
		    'Point at a frame for its figures; a click (or Enter) zooms to it, the top row zooms out.';
	}

	/* The cell of an event's target, or null. */
	function flameCell(ev) {
		const g = ev.target.closest && ev.target.closest('g.frame');
		const d = state.flame.drawn;
		return g && d ? d.cells[Number(g.dataset.i)] || null : null;
	}

	function flameZoom(path) {
		state.flame.zoom = path;
		renderFlame();
	}

	/* Fetches the selected process's call sites, ordered by the switch's mode. */
	async function loadSites(pid) {
		const f = state.flame;
		const seq = ++f.seq;
		const mode = f.mode;
		f.pid = pid;
		try {
			const data = await getJSON('/api/v1/processes/' + pid + '/sites?top=' + FLAME_TOP + '&order=' + mode);
			if (seq !== f.seq || pid !== state.selected) return;
			data.order = mode;
			/* The same figures again keep the drawing (and its focus and hover). */
			const sig = JSON.stringify(data);
			if (sig !== f.sig) { f.sig = sig; f.version++; }
			f.data = data;
			f.error = null;
		} catch (e) {
			if (seq !== f.seq || pid !== state.selected) return;
			f.data = null;
			f.error = e.status === 404 ?
			    'No heap profile for this process: its agent does not sample allocations (MEMPROBE_PROFILE_RATE=0), or memprobed has none yet.' :
			    'Call sites unavailable: ' + e.message + '.';
		}
		f.loaded = state.round;
		renderFlame();
	}

	/* Whether the call sites are due: new selection, or FLAME_EVERY rounds old. */
	function sitesDue(pid) {
		const f = state.flame;
		return f.pid !== pid || f.loaded === null || state.round - f.loaded >= FLAME_EVERY;
	}

	function initFlame() {
		const svg = $('flame-svg');
		svg.addEventListener('click', (ev) => {
			const c = flameCell(ev);
			if (c) flameZoom(flamePath(c.node));
		});
		svg.addEventListener('keydown', (ev) => {
			const c = flameCell(ev);
			if (!c) return;
			if (ev.key === 'Enter' || ev.key === ' ') {
				ev.preventDefault();
				flameZoom(flamePath(c.node));
			} else if (ev.key === 'Escape') {
				flameZoom([]);
			}
		});
		svg.addEventListener('mouseover', (ev) => showFlameInfo(flameCell(ev)));
		svg.addEventListener('focusin', (ev) => showFlameInfo(flameCell(ev)));
		svg.addEventListener('mouseleave', () => showFlameInfo(null));
		$('flame-reset').addEventListener('click', () => flameZoom([]));
		for (const r of document.querySelectorAll('input[name="flame-mode"]')) {
			r.addEventListener('change', () => {
				if (!r.checked) return;
				state.flame.mode = r.value;
				if (state.selected !== null) loadSites(state.selected);
			});
		}
		showFlameInfo(null);
	}

	/* ---- wiring ---- */

	function fromHash() {
		const m = /^#pid=(\d+)$/.exec(location.hash);
		if (m) select(Number(m[1]), true);
	}

	/* Exited processes are hidden unless the user asked for them: the table
	 * is for what runs now, and a burst of short-lived programs would push
	 * the charts out of sight. localStorage may be refused (private modes). */
	function initExitedToggle() {
		const box = $('show-exited');
		try { state.showExited = localStorage.getItem('memprobe.showExited') === '1'; } catch (e) { /* keep the default */ }
		box.checked = state.showExited;
		box.addEventListener('change', () => {
			state.showExited = box.checked;
			try { localStorage.setItem('memprobe.showExited', box.checked ? '1' : '0'); } catch (e) { /* not kept */ }
			renderTable();
		});
	}

	/* Marks <html> with its scroll width and the window's, for tests and
	 * tools: a page wider than the window scrolls sideways on a phone. */
	function markWidth() {
		const root = document.documentElement;
		root.dataset.scrollWidth = String(root.scrollWidth);
		root.dataset.viewWidth = String(root.clientWidth);
	}

	function start() {
		initExitedToggle();
		initFlame();
		fromHash();
		window.addEventListener('hashchange', () => { fromHash(); refresh(); });
		$('procs').tHead.addEventListener('click', (ev) => {
			const th = ev.target.closest('th');
			if (!th) return;
			const key = th.dataset.key;
			if (key === state.sortKey) state.sortDir = -state.sortDir;
			else {
				state.sortKey = key;
				/* Names and pids read best ascending; sizes largest first. */
				state.sortDir = key === 'comm' || key === 'pid' || key === 'state' ? 1 : -1;
			}
			renderTable();
		});
		$('procs').tBodies[0].addEventListener('click', (ev) => {
			const tr = ev.target.closest('tr');
			if (!tr) return;
			select(Number(tr.dataset.pid), true);
			renderTable();
			renderDetail();
			refresh();
		});
		$('filter').addEventListener('input', (ev) => {
			state.filter = ev.target.value;
			renderTable();
		});
		window.addEventListener('resize', () => renderDetail());
		loop();
	}

	if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
	else start();
}());
