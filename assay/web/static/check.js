// The /check page: show the chosen picture and its file name next to the verdict.
// The thumbnail is made here, in the browser, from the file the reader chose (an object URL): it is never
// uploaded apart from the check itself, and the server keeps no picture. Without JavaScript the form posts
// as usual and the verdict names the file.
(function () {
  "use strict";
  if (!window.fetch || !window.DOMParser) return;
  // On a shared verdict's page: the file the link is about, to tell the reader whether they checked that one.
  var sharedHash = document.getElementById("shared-sha256");
  var sharedSha = sharedHash ? sharedHash.textContent.trim() : "";

  function bind() {
    var form = document.getElementById("file-form");
    if (form) form.addEventListener("submit", onSubmit);
  }

  function onSubmit(event) {
    var form = event.currentTarget;
    var input = form.querySelector('input[type="file"]');
    var file = input && input.files && input.files[0];
    if (!file) return;
    event.preventDefault();
    var button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        var main = document.getElementById("main");
        if (!fresh || !main) throw new Error("not a page");
        main.replaceChildren.apply(main, Array.prototype.slice.call(fresh.childNodes));
        show(file);
        compare();
        bind();
        var verdict = document.getElementById("verdict") || document.getElementById("check-error");
        if (verdict) verdict.scrollIntoView();
      })
      .catch(function () { form.submit(); });
  }

  function show(file) {
    var name = document.querySelector("#checked-file .file-name");
    if (name) name.textContent = file.name;
    var slot = document.getElementById("checked-thumb");
    if (!slot || !/^image\//.test(file.type || "")) return;
    var img = document.createElement("img");
    img.alt = "The picture you checked: " + file.name;
    img.className = "thumbnail";
    img.onerror = function () { img.remove(); };  // e.g. HEIC, which browsers may not draw
    img.src = URL.createObjectURL(file);
    slot.replaceChildren(img);
  }

  function compare() {
    var figure = document.getElementById("checked-file");
    if (!sharedSha || !figure) return;
    var same = figure.getAttribute("data-sha256") === sharedSha;
    var note = document.createElement("div");
    note.id = "shared-compare";
    note.className = "notice " + (same ? "" : "warn");
    note.setAttribute("role", "status");
    note.textContent = same
      ? "This is the file of the verdict shared with you (the same SHA-256); this result is the check made now."
      : "This is not the file of the verdict shared with you: its SHA-256 differs, so the shared verdict says " +
        "nothing about it. This result is about the file you chose.";
    figure.parentNode.insertBefore(note, figure);
  }

  bind();
})();
