// Typeset the math that pymdownx.arithmatex leaves as \( ... \) and \[ ... \] with the KaTeX
// files the site serves itself (assets/katex/), on every page load and instant navigation.
function renderMath() {
  renderMathInElement(document.body, {
    delimiters: [
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
    ],
    throwOnError: false,
  });
}
if (typeof document$ !== "undefined") {
  document$.subscribe(renderMath);
} else {
  document.addEventListener("DOMContentLoaded", renderMath);
}
