/// How the property tests run: each property is checked over 1000 generated inputs, and each
/// deliberately broken variant is shown caught by the same property within 1000 tries.
module Raft.Core.Tests.PropertyCheck

open FsCheck

/// Whether `f` throws (a failed property check throws).
let throws (f: unit -> unit) =
    try
        f ()
        false
    with _ ->
        true

/// Checks that the property holds for 1000 generated inputs (throws with the counterexample if not).
let holds (prop: Property) =
    Check.One(Config.QuickThrowOnFailure.WithMaxTest 1000, prop)

/// Whether the property fails for some input within 1000 tries: how a broken variant is shown caught.
let caught (prop: Property) = throws (fun () -> holds prop)
