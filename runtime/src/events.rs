//! What happens, told to the `log` crate when the `log` feature is on
//! (target `restartable`); otherwise nothing is formatted or kept, and the
//! arguments are only type-checked.

macro_rules! event {
    ($level:ident, $($arg:tt)+) => {{
        #[cfg(feature = "log")]
        {
            log::$level!(target: "restartable", $($arg)+);
        }
        #[cfg(not(feature = "log"))]
        {
            if false {
                let _ = format_args!($($arg)+);
            }
        }
    }};
}
pub(crate) use event;
