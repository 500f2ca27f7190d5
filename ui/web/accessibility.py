"""What the page needs for assistive technology that NiceGUI and Quasar do not give by default.

- Links in the brand colour (NiceGUI's own link blue has too little contrast on white).
- A small static script that names what Quasar renders without a name: the file input and the
  icon buttons inside an uploader (named after the uploader's label), and drops the ARIA
  attributes Quasar's select sets to values axe-core rejects (`aria-readonly="false"` on a
  combobox, `aria-controls` naming a list box that is not in the page while it is closed).
It reads no data and writes only ARIA attributes: nothing from a list or a server reaches it.
"""

from __future__ import annotations

from nicegui import ui

__all__ = ["install"]

_CSS = """
.nicegui-link, a.nicegui-link { color: #1565c0; }
.q-uploader__title, .q-uploader__subtitle { color: #ffffff; }
"""
_SCRIPT = """
<script>
(() => {
  const names = {
    add_box: 'Choose a file', add: 'Choose a file', cloud_upload: 'Upload the file',
    clear_all: 'Remove the chosen files', close: 'Cancel',
  };
  const fix = () => {
    document.querySelectorAll('.q-uploader').forEach((uploader) => {
      const title = uploader.querySelector('.q-uploader__title');
      const name = (title && title.textContent.trim()) || 'Choose a file';
      uploader.querySelectorAll('input[type=file]:not([aria-label])').forEach((input) => {
        input.setAttribute('aria-label', name);
      });
      uploader.querySelectorAll('.q-btn:not([aria-label])').forEach((button) => {
        const icon = button.querySelector('.q-icon');
        const key = icon ? icon.textContent.trim() : '';
        if (button.textContent.replace(key, '').trim()) return;  // it has words of its own
        button.setAttribute('aria-label', names[key] || name);
      });
    });
    document.querySelectorAll('[role=combobox][aria-readonly="false"]').forEach((box) => {
      box.removeAttribute('aria-readonly');
    });
    document.querySelectorAll('[aria-controls]').forEach((element) => {
      const id = element.getAttribute('aria-controls');
      if (id && !document.getElementById(id)) element.removeAttribute('aria-controls');
    });
  };
  let queued = false;
  const later = () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; fix(); });
  };
  const start = () => {
    fix();
    new MutationObserver(later).observe(document.body, {
      subtree: true, childList: true, attributes: true,
      attributeFilter: ['aria-controls', 'aria-readonly', 'aria-expanded'],
    });
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
</script>
"""


def install() -> None:
    """Add the styles and the naming script to the current page (once per page)."""
    ui.add_css(_CSS)
    ui.add_head_html(_SCRIPT)
