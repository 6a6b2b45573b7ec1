// DOM helpers for the portal: build elements from data without ever parsing markup (no innerHTML,
// so nothing an API returns can become a tag or a script), announce changes to screen readers
// through one polite live region, and a hash router that gives each view an AbortSignal so its
// timers stop when the person navigates away.

const SVG_NS = 'http://www.w3.org/2000/svg';

// Properties set as such rather than as attributes (booleans and form values).
const PROPS = new Set(['checked', 'disabled', 'hidden', 'value', 'selected', 'required', 'open', 'readOnly', 'multiple']);

function apply(el, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false && !PROPS.has(name)) continue;
    if (name === 'on') {
      for (const [event, handler] of Object.entries(value)) el.addEventListener(event, handler);
    } else if (name === 'text') {
      el.textContent = String(value);
    } else if (name === 'class') {
      el.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (PROPS.has(name)) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** An HTML element: `h('button', { type: 'button', on: { click } }, 'Label')`. */
export function h(tag, attrs, ...children) {
  return append(apply(document.createElement(tag), attrs), children);
}

/** An SVG element with attributes (presentation attributes, never a style attribute). */
export function svg(tag, attrs, ...children) {
  return append(apply(document.createElementNS(SVG_NS, tag), attrs), children);
}

/** Replaces an element's children. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

let uid = 0;
/** A page-unique id with a readable prefix (labels point at inputs by id). */
export function newId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: `{ label, input, hint }` → a wrapper with `<label for>` and a hint. */
export function field(label, input, hint) {
  if (!input.id) input.id = newId('f');
  const parts = [h('label', { for: input.id }, label)];
  if (hint) {
    const hintId = newId('hint');
    input.setAttribute('aria-describedby', hintId);
    parts.push(h('span', { class: 'hint', id: hintId }, hint));
  }
  return h('div', { class: 'field' }, parts, input);
}

/** A `<select>` with `[value, label]` options and the current value selected. */
export function select(options, value, attrs = {}) {
  return h('select', attrs, options.map(([v, label]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, label)));
}

/** Says `message` to screen-reader users through the page's polite live region. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node after a tick so the same message twice is read twice.
  setTimeout(() => { region.textContent = message; }, 30);
}

/** An error or notice box; `role=alert` for errors so they are read at once. */
export function notice(message, tone = 'error') {
  return h('p', { class: ['notice', tone], role: tone === 'error' ? 'alert' : 'status' }, message);
}

/** A button of type button with a click handler. */
export function button(label, onClick, attrs = {}) {
  return h('button', { type: 'button', ...attrs, on: { click: onClick, ...(attrs.on || {}) } }, label);
}

/**
 * Renders the view for the current `#/path` into `main` on every hash change. `views` is a list
 * of `[pattern, render]`: `pattern` a RegExp on the path, `render(main, match, signal)`. The
 * view's heading gets the focus so keyboard and screen-reader users land on the new content.
 */
export function route(main, views, fallback) {
  let controller = null;
  const show = async () => {
    // In-page links such as the skip link are not routes.
    if (location.hash && !location.hash.startsWith('#/')) return;
    controller?.abort();
    controller = new AbortController();
    const signal = controller.signal;
    const path = location.hash.replace(/^#/, '') || fallback;
    const found = views.find(([pattern]) => pattern.test(path));
    if (!found) { location.hash = `#${fallback}`; return; }
    const match = path.match(found[0]);
    replace(main, h('p', { class: 'loading' }, 'Loading…'));
    for (const link of document.querySelectorAll('nav a')) {
      const target = link.getAttribute('href').replace(/^#/, '');
      if (path === target || path.startsWith(`${target}/`)) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    try {
      await found[1](main, match, signal);
    } catch (err) {
      if (signal.aborted) return;
      replace(main, h('h2', { tabindex: '-1' }, 'Something went wrong'), notice(err.message || String(err)));
    }
    if (signal.aborted) return;
    const heading = main.querySelector('h2');
    if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus({ preventScroll: false }); }
  };
  window.addEventListener('hashchange', show);
  show();
  return { refresh: show };
}

/**
 * Calls `tick` now and every `ms` until `signal` aborts or `tick` returns true (done). A failure
 * of the first call rejects (the view cannot show anything); later failures are passed to
 * `onError` and the next tick tries again (wapdr restarting, a network blip).
 */
export function poll(tick, ms, signal, onError) {
  return new Promise((resolve, reject) => {
    let first = true;
    const run = async () => {
      if (signal.aborted) return resolve(false);
      let done = false;
      try {
        done = await tick();
      } catch (err) {
        if (first) return reject(err);
        onError?.(err);
      }
      first = false;
      if (done || signal.aborted) return resolve(done);
      setTimeout(run, ms);
    };
    run();
  });
}

/**
 * Re-renders `container` with `build()` keeping what the person was doing: the focused control
 * (by id) and the values typed into inputs (by id), so a live refresh never steals the focus or
 * a half-written comment.
 */
export function rerender(container, build) {
  const focused = document.activeElement && container.contains(document.activeElement) ? document.activeElement.id : null;
  const values = {};
  for (const input of container.querySelectorAll('input[id], textarea[id]')) values[input.id] = input.value;
  replace(container, build());
  for (const [id, value] of Object.entries(values)) {
    const input = document.getElementById(id);
    if (input && container.contains(input)) input.value = value;
  }
  if (focused) document.getElementById(focused)?.focus();
}
