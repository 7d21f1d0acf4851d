//! Keyset pagination over an id column, for every Relay connection of the API.

use crate::error::{AppError, AppResult};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select,
};

/// The most items one page may hold.
pub const MAX_PAGE_SIZE: u64 = 100;
/// The page size when the client gives neither `first` nor `last`.
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// Which slice of a list, ordered by id, a client asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub after: Option<i64>,
    pub before: Option<i64>,
    pub size: u64,
    pub backward: bool,
}

impl PageRequest {
    /// Checks Relay's arguments: at most one of `first` / `last`, neither negative nor above
    /// [`MAX_PAGE_SIZE`].
    pub fn new(
        first: Option<i32>,
        after: Option<i64>,
        last: Option<i32>,
        before: Option<i64>,
    ) -> AppResult<Self> {
        let size = |name: &str, n: i32| -> AppResult<u64> {
            if n < 0 {
                return Err(AppError::BadRequest(format!(
                    "`{name}` must not be negative"
                )));
            }
            let n = n as u64;
            if n > MAX_PAGE_SIZE {
                return Err(AppError::LimitExceeded(format!(
                    "`{name}` must be at most {MAX_PAGE_SIZE}"
                )));
            }
            Ok(n)
        };
        match (first, last) {
            (Some(_), Some(_)) => Err(AppError::BadRequest(
                "give either `first` or `last`, not both".into(),
            )),
            (Some(n), None) => Ok(Self {
                after,
                before,
                size: size("first", n)?,
                backward: false,
            }),
            (None, Some(n)) => Ok(Self {
                after,
                before,
                size: size("last", n)?,
                backward: true,
            }),
            (None, None) => Ok(Self {
                after,
                before,
                size: DEFAULT_PAGE_SIZE,
                backward: before.is_some() && after.is_none(),
            }),
        }
    }
}

/// One page of rows with Relay's page info.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_previous: bool,
    pub has_next: bool,
}

/// Fetches the page `request` names from `select` (already filtered), ordered by `id`.
pub async fn fetch_page<E, C>(
    db: &C,
    select: Select<E>,
    id: E::Column,
    request: PageRequest,
) -> Result<Page<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Column: ColumnTrait + Copy,
    C: ConnectionTrait,
{
    let mut window = select.clone();
    if let Some(after) = request.after {
        window = window.filter(id.gt(after));
    }
    if let Some(before) = request.before {
        window = window.filter(id.lt(before));
    }
    let ordered = if request.backward {
        window.order_by_desc(id)
    } else {
        window.order_by_asc(id)
    };
    let mut items = ordered.limit(request.size + 1).all(db).await?;
    let more = items.len() as u64 > request.size;
    items.truncate(request.size as usize);
    let exists = |bound| async move {
        Ok::<bool, DbErr>(select.clone().filter(bound).one(db).await?.is_some())
    };
    if request.backward {
        items.reverse();
        let has_next = match request.before {
            Some(before) => exists(id.gte(before)).await?,
            None => false,
        };
        Ok(Page {
            items,
            has_previous: more,
            has_next,
        })
    } else {
        let has_previous = match request.after {
            Some(after) => exists(id.lte(after)).await?,
            None => false,
        };
        Ok(Page {
            items,
            has_previous,
            has_next: more,
        })
    }
}
