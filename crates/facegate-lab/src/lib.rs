//! What the `facegate` command runs, one module per command: the evaluation protocols (LFW,
//! PAD, cross-session log-ins, leave-one-set-out), the training runs and their exports, on the
//! shared data's layouts. The binary (`facegate-cli`) only parses arguments and calls these.

pub mod eval_lfw;
pub mod eval_pad;
pub mod eval_sessions;
pub mod faces;
pub mod own_model;
pub mod pad_loso;
pub mod progress;
pub mod report;
pub mod student_data;
pub mod train_minifas;
pub mod train_pad;
pub mod train_student;
