// The lesson book's search box: pages, section headings and fdl's names, completed as you type.
// MiniSearch does the ranking; the index is `window.FDL_SEARCH`, written by tools/build_lesson.py into
// _static/search-index.js and loaded as a script, so it works from file:// with no server and no network.
(function () {
  'use strict';
  var input = document.getElementById('fdl-q'), list = document.getElementById('fdl-results');
  var status = document.getElementById('fdl-search-status');
  if (!input || !list || !window.MiniSearch || !window.FDL_SEARCH) return;
  var search = new MiniSearch({
    fields: ['title', 'name', 'text'],
    storeFields: ['title', 'kind', 'href', 'where'],
    searchOptions: {
      prefix: true, combineWith: 'AND', boost: {name: 4, title: 2},
      fuzzy: function (term) { return term.length > 4 ? 0.2 : false; }  // one typo in a long word; none in "var"
    }
  });
  search.addAll(window.FDL_SEARCH.docs);
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
      a.href = r.href;
      a.tabIndex = -1;  // the box keeps the focus; arrows move through the results
      a.innerHTML = '<span class="fdl-kind"></span><span class="fdl-title"></span><span class="fdl-where"></span>';
      a.children[0].textContent = KIND[r.kind] || r.kind;
      a.children[1].textContent = r.title;
      a.children[2].textContent = r.where || '';
      li.appendChild(a);
      list.appendChild(li);
    });
    var q = input.value.trim();
    if (status) status.textContent = !q ? '' : hits.length ? hits.length + ' found' + (hits.length > 12 ? ', the first 12 shown' : '') : 'nothing found';
    input.setAttribute('aria-expanded', results.length ? 'true' : 'false');
    mark();
  }
  function mark() {
    Array.prototype.forEach.call(list.children, function (li, i) {
      li.setAttribute('aria-selected', i === active ? 'true' : 'false');
      if (i === active) li.scrollIntoView({block: 'nearest'});
    });
    if (active >= 0) input.setAttribute('aria-activedescendant', 'fdl-result-' + active);
    else input.removeAttribute('aria-activedescendant');
  }
  function go(i) { if (results[i]) window.location.href = results[i].href; }
  function close() { results = []; active = -1; list.innerHTML = ''; input.setAttribute('aria-expanded', 'false'); mark(); }

  input.addEventListener('input', function () {
    var q = input.value.trim();
    show(q ? search.search(q) : []);
  });
  input.addEventListener('focus', function () { if (input.value.trim() && !results.length) show(search.search(input.value.trim())); });
  input.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowDown' && results.length) { active = (active + 1) % results.length; mark(); e.preventDefault(); }
    else if (e.key === 'ArrowUp' && results.length) { active = (active - 1 + results.length) % results.length; mark(); e.preventDefault(); }
    else if (e.key === 'Enter') { go(active < 0 ? 0 : active); e.preventDefault(); }
    else if (e.key === 'Escape') { if (results.length) close(); else { input.value = ''; if (status) status.textContent = ''; } }
  });
  // a click elsewhere closes the list; a click on a result follows its link first
  document.addEventListener('mousedown', function (e) { if (!e.target.closest || !e.target.closest('.fdl-search')) close(); });
  // "/" jumps to the search box, as on many documentation sites
  document.addEventListener('keydown', function (e) {
    if (e.key === '/' && document.activeElement !== input && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
      input.focus(); e.preventDefault();
    }
  });
})();
