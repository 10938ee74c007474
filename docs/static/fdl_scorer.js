// Sphinx's search scorer, with one rule of fdl's: among names that match equally,
// the shorter dotted name first (`fdl.stats.var` before `fdl.stats.RunningStats.var`).
var Scorer = {
  score: ([docname, title, anchor, descr, score, filename, kind]) =>
    kind === 'object' ? score * 10 - title.split('.').length : score * 10,
  objNameMatch: 11, objPartialMatch: 6, objPrio: {0: 15, 1: 5, 2: -5}, objPrioDefault: 0,
  title: 15, partialTitle: 7, term: 5, partialTerm: 2,
};
