// The composer's autocomplete fields (Django admin's select2 widgets) leave their combobox and
// search box without an accessible name: give each the text of its field's label.
function nameAutocompletes() {
  for (const select of document.querySelectorAll("select.admin-autocomplete")) {
    const label = document.querySelector(`label[for="${select.id}"]`);
    const container = select.nextElementSibling;
    if (!label || !container) continue;
    const name = label.textContent.replace(/:\s*$/, "").trim();
    for (const element of container.querySelectorAll(".select2-selection, .select2-selection__rendered, .select2-search__field")) {
      if (element.getAttribute("aria-label") !== name) element.setAttribute("aria-label", name);
    }
  }
}

window.addEventListener("load", () => {
  nameAutocompletes();
  // select2 redraws its search box as choices change.
  new MutationObserver(nameAutocompletes).observe(document.body, { childList: true, subtree: true });
});
