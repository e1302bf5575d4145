/**
 * Model output → sanitized HTML. markdown-it runs with `html: false` (raw HTML in the model's text
 * becomes escaped text), then DOMPurify cleans the result, so no HTML the model writes ever reaches
 * the DOM as elements. User text never goes through here: it is set with textContent.
 */
import DOMPurify from 'dompurify';
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: true, breaks: true });

export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(md.render(text), {
    FORBID_TAGS: ['img', 'script', 'style', 'iframe', 'form', 'input'],
    FORBID_ATTR: ['style'],
  });
}

/** Shows model output in `el` as sanitized markdown; links open in a new tab without referrer. */
export function setMarkdown(el: HTMLElement, text: string): void {
  el.innerHTML = renderMarkdown(text);
  for (const a of el.querySelectorAll('a')) {
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
  }
}
