// The lesson book's search box: pages, section headings and fdl's names, completed as you type.
// MiniSearch does the ranking; the index is `window.FDL_SEARCH`, written by tools/build_lesson.py into
// _static/search-index.js and loaded as a script, so it works from file:// with no server and no network.
(function () {
  'use strict';
  var input = document.getElementById('fdl-q'), list = document.getElementById('fdl-results');
  if (!input || !list || !window.MiniSearch || !window.FDL_SEARCH) return;
  var docs = window.FDL_SEARCH.docs, root = document.documentElement.getAttribute('data-fdl-root') || '';
  var search = new MiniSearch({
    fields: ['title', 'name', 'text'],
    storeFields: ['title', 'kind', 'href', 'where'],
    searchOptions: {prefix: true, fuzzy: 0.2, boost: {name: 4, title: 2}, combineWith: 'AND'}
  });
  search.addAll(docs);
  var KIND = {page: 'page', section: 'section', symbol: 'fdl name'};
  var results = [], active = -1;

  function show(hits) {
    results = hits.slice(0, 12);
    active = results.length ? 0 : -1;
    list.innerHTML = '';
    results.forEach(function (r, i) {
      var li = document.createElement('li'), a = document.createElement('a');
      li.setAttribute('role', 'option');
      li.id = 'fdl-result-' + i;
      a.href = root + r.href;
      a.innerHTML = '<span class="fdl-kind"></span> <span class="fdl-title"></span><span class="fdl-where"></span>';
      a.children[0].textContent = KIND[r.kind] || r.kind;
      a.children[1].textContent = r.title;
      a.children[2].textContent = r.where || '';
      li.appendChild(a);
      list.appendChild(li);
    });
    if (!results.length && input.value.trim()) {
      var none = document.createElement('li');
      none.className = 'fdl-none';
      none.textContent = 'nothing found';
      list.appendChild(none);
    }
    input.setAttribute('aria-expanded', results.length ? 'true' : 'false');
    mark();
  }
  function mark() {
    Array.prototype.forEach.call(list.querySelectorAll('li[role=option]'), function (li, i) {
      li.setAttribute('aria-selected', i === active ? 'true' : 'false');
    });
    if (active >= 0) input.setAttribute('aria-activedescendant', 'fdl-result-' + active);
    else input.removeAttribute('aria-activedescendant');
  }
  function go(i) { if (results[i]) window.location.href = root + results[i].href; }

  input.addEventListener('input', function () {
    var q = input.value.trim();
    show(q ? search.search(q) : []);
  });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowDown' && results.length) { active = (active + 1) % results.length; mark(); e.preventDefault(); }
    else if (e.key === 'ArrowUp' && results.length) { active = (active - 1 + results.length) % results.length; mark(); e.preventDefault(); }
    else if (e.key === 'Enter') { go(active < 0 ? 0 : active); e.preventDefault(); }
    else if (e.key === 'Escape') { input.value = ''; show([]); }
  });
  // "/" jumps to the search box, as on many documentation sites
  document.addEventListener('keydown', function (e) {
    if (e.key === '/' && document.activeElement !== input && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
      input.focus(); e.preventDefault();
    }
  });
})();
