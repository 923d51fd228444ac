// The jupyter-widgets HTML manager (1.0.x) typesets widget labels with the MathJax 2 call
// `MathJax.Hub.Queue(["Typeset", MathJax.Hub, element])` whenever `window.MathJax` exists. The book loads MathJax 3,
// which has no `Hub`, so that call would throw. Every object assigned to `window.MathJax` (Sphinx's configuration,
// then MathJax 3 itself) gets a hidden `Hub` whose `Queue` forwards the element to MathJax 3's `typesetPromise`.
(function () {
  "use strict";
  var current;

  function queue(command) {
    var element = Array.isArray(command) ? command[2] : null;
    if (!element || !current) return;
    if (typeof current.typesetPromise === "function") {
      current.typesetPromise([element]);
    } else if (current.startup && current.startup.promise) {
      current.startup.promise.then(function () { current.typesetPromise([element]); });
    }
  }

  function withHub(value) {
    if (value && typeof value === "object" && !("Hub" in value)) {
      Object.defineProperty(value, "Hub", { value: { Queue: queue }, enumerable: false, configurable: true });
    }
    return value;
  }

  current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); },
  });
})();
