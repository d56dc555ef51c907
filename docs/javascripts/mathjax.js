// MathJax 3 settings, read by javascripts/mathjax/tex-svg.js (loaded next, from this
// site: the formulas render without a network).
// - Markdown pages: pymdownx.arithmatex wraps each formula in an element of class
//   "arithmatex", as \( \) inline and \[ \] displayed.
// - Notebook pages: markdown cells (class "jp-RenderedMarkdown") write $ $ and $$ $$,
//   or \( \) and \[ \].
// Every element with a class is ignored, with what it holds, unless its class is one
// of those two: code, outputs and the theme's text are never read as TeX.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    ignoreHtmlClass: ".+",
    processHtmlClass: "arithmatex|jp-RenderedMarkdown"
  }
};
document$.subscribe(() => { if (window.MathJax.typesetPromise) { MathJax.typesetPromise(); } });
