// The console's only script: the copy button of a new API key. Everything else is plain forms.
document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("button[data-copy]") : null;
  if (button === null) return;
  const source = document.getElementById(button.getAttribute("data-copy") ?? "");
  if (source === null) return;
  navigator.clipboard.writeText(source.textContent ?? "").then(
    () => { button.textContent = "Copied"; },
    () => { button.textContent = "Copy failed: select the key"; },
  );
});
