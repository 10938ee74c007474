// The lesson book: a link or search result that points inside a closed section
// (Under the hood, a solution, hidden code) opens it and shows the place.
function fdlOpenTarget() {
  const id = decodeURIComponent(location.hash.slice(1));
  const target = id && document.getElementById(id);
  if (!target) return;
  for (let d = target.closest('details'); d; d = d.parentElement.closest('details')) d.open = true;
  target.scrollIntoView();
}
window.addEventListener('hashchange', fdlOpenTarget);
window.addEventListener('load', fdlOpenTarget);
