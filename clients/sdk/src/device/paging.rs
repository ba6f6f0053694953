//! Paging through the server's listings (the inbox, chat histories): one cursor loop for every reader,
//! guarded against a server that pages forever.

use std::collections::HashSet;

use e2ee_protocol::MAX_PAGE_SIZE;

use crate::error::{ClientError, Result};

/// The most pages one command fetches from one listing (100 000 messages at the largest page size).
pub const MAX_PAGES: usize = 1000;
/// Cursors are opaque, but a sane one is short.
const MAX_CURSOR_BYTES: usize = 4096;

/// Guards a cursor loop against a server that pages forever: at most [`MAX_PAGES`] pages, no cursor twice.
pub(crate) struct Pages {
    what: &'static str,
    fetched: usize,
    seen: HashSet<String>,
}

impl Pages {
    pub(crate) fn new(what: &'static str) -> Pages {
        Pages {
            what,
            fetched: 0,
            seen: HashSet::new(),
        }
    }

    /// Counts a fetched page; returns the cursor of the next one, if there is one and it may be fetched.
    pub(crate) fn next(&mut self, cursor: Option<String>) -> Result<Option<String>> {
        self.fetched += 1;
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        if cursor.len() > MAX_CURSOR_BYTES {
            return Err(ClientError::InvalidResponse(format!(
                "listing {}: the server's cursor is longer than {MAX_CURSOR_BYTES} bytes",
                self.what
            )));
        }
        if !self.seen.insert(cursor.clone()) {
            return Err(ClientError::InvalidResponse(format!(
                "listing {}: the server sent the same cursor twice (a paging loop); stopped",
                self.what
            )));
        }
        if self.fetched >= MAX_PAGES {
            return Err(ClientError::InvalidResponse(format!(
                "listing {}: more than {MAX_PAGES} pages; stopped",
                self.what
            )));
        }
        Ok(Some(cursor))
    }
}

/// The one cursor loop of every reader (the inbox, a message search, a chat history): which page to fetch
/// next, following the server's cursors (checked by [`Pages`]) until the listing ends or the reader has
/// enough.
///
/// ```text
/// let mut pager = Pager::new("the inbox");
/// while let Some(cursor) = pager.next_page() {
///     let page = fetch(cursor.as_deref()).await?;
///     // ... take page.messages ...
///     pager.fetched(page.next_cursor, wants_more)?;
/// }
/// ```
pub(super) struct Pager {
    pages: Pages,
    /// The cursor of the page to fetch next (`Some(None)`: the first page); `None` once done.
    next: Option<Option<String>>,
    truncated: bool,
}

impl Pager {
    pub(super) fn new(what: &'static str) -> Pager {
        Pager {
            pages: Pages::new(what),
            next: Some(None),
            truncated: false,
        }
    }

    /// The cursor of the page to fetch now (`Some(None)` for the first page), or `None` when done.
    pub(super) fn next_page(&mut self) -> Option<Option<String>> {
        self.next.take()
    }

    /// After a page: its `nextCursor`, and whether the reader wants the next page. Without `more`, a next
    /// cursor means the listing was cut short ([`Pager::truncated`]).
    pub(super) fn fetched(&mut self, next: Option<String>, more: bool) -> Result<()> {
        if !more {
            self.truncated = next.is_some();
            return Ok(());
        }
        if let Some(next) = self.pages.next(next)? {
            self.next = Some(Some(next));
        }
        Ok(())
    }

    /// Whether the listing went on beyond the last page the reader took.
    pub(super) fn truncated(&self) -> bool {
        self.truncated
    }
}

/// The page size to ask for when `remaining` messages are still wanted, within the API's range.
pub(super) fn page_size(remaining: usize) -> u32 {
    u32::try_from(remaining.clamp(1, MAX_PAGE_SIZE as usize)).unwrap_or(MAX_PAGE_SIZE)
}
