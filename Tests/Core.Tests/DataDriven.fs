/// A runner for datadriven test scripts in the format etcd's raft tests use:
///
///   # comment
///   command arg key=value key=(v1, v2)
///   optional input lines
///   ----
///   expected output, up to the first blank line
///
/// or, when the expected output holds blank lines, `----` twice before it and twice after it.
module Raft.Core.Tests.DataDriven

open System
open System.IO
open System.Text

/// One argument of a directive: `key`, `key=value` or `key=(v1, v2, ...)`.
type CmdArg = { Key: string; Vals: string list }

/// One directive of a script with its expected output.
type TestData =
    { Pos: string
      Cmd: string
      CmdArgs: CmdArg list
      Input: string
      Expected: string }

    /// The values of the first argument named `key`, if any.
    member d.Arg(key: string) =
        d.CmdArgs |> List.tryFind (fun a -> a.Key = key) |> Option.map (fun a -> a.Vals)

    member d.HasArg(key: string) = d.CmdArgs |> List.exists (fun a -> a.Key = key)

    /// The single value of `key`, or a failure naming the directive.
    member d.ArgValue(key: string) =
        match d.Arg key with
        | Some [ v ] -> v
        | Some vs -> failwithf "%s: %s: expected one value for %s, got %d" d.Pos d.Cmd key vs.Length
        | None -> failwithf "%s: %s: missing argument %s" d.Pos d.Cmd key

/// Splits a directive line into its command and arguments (nested parentheses allowed in values).
let parseLine (line: string) : Result<string * CmdArg list, string> =
    let line = line.Trim()
    if line = "" then
        Ok("", [])
    else
        let fail (rest: string) =
            Error(sprintf "cannot parse directive at column %d: %s" (line.Length - rest.Length + 1) line)
        let until (chars: char[]) (s: string) =
            match s.IndexOfAny chars with
            | -1 -> s, ""
            | i -> s.Substring(0, i), s.Substring i
        // Returns the position just after the ')' matching an already opened '('.
        let rec matchParen (s: string) (pos: int) =
            if pos >= s.Length then None
            elif s[pos] = ')' then Some(pos + 1)
            elif s[pos] = '(' then matchParen s (pos + 1) |> Option.bind (matchParen s)
            else matchParen s (pos + 1)
        let rec parseVals (rest: string) (acc: string list) =
            // Scan to the next ',' or ')' at depth zero.
            let rec scan pos =
                if pos >= rest.Length then None
                elif rest[pos] = ')' || rest[pos] = ',' then Some pos
                elif rest[pos] = '(' then matchParen rest (pos + 1) |> Option.bind scan
                else scan (pos + 1)
            match scan 0 with
            | None -> None
            | Some pos ->
                let acc = rest.Substring(0, pos) :: acc
                let after = rest.Substring(pos + 1).Trim()
                if rest[pos] = ')' then Some(List.rev acc, after) else parseVals after acc
        let rec parseArgs (rest: string) (acc: CmdArg list) =
            if rest = "" then
                Ok(List.rev acc)
            else
                let key, rest' = until [| ' '; '=' |] rest
                if key = "" then
                    fail rest
                elif rest' <> "" && rest'[0] = '=' then
                    let v = rest'.Substring 1
                    if v = "" || v[0] = ' ' then
                        parseArgs (v.Trim()) ({ Key = key; Vals = [ "" ] } :: acc)
                    elif v[0] <> '(' then
                        let value, after = until [| ' ' |] v
                        parseArgs (after.Trim()) ({ Key = key; Vals = [ value ] } :: acc)
                    else
                        match parseVals (v.Substring 1) [] with
                        | None -> fail v
                        | Some(vals, after) -> parseArgs after ({ Key = key; Vals = vals } :: acc)
                else
                    parseArgs (rest'.Trim()) ({ Key = key; Vals = [] } :: acc)
        let cmd, rest = until [| ' ' |] line
        parseArgs (rest.Trim()) [] |> Result.map (fun args -> cmd, args)

/// Parses a whole script. `source` names it in positions.
let parse (source: string) (text: string) : Result<TestData list, string> =
    let lines = text.Replace("\r\n", "\n").Split('\n')
    // A trailing newline does not make an extra line.
    let lines =
        if lines.Length > 0 && lines[lines.Length - 1] = "" then lines[.. lines.Length - 2] else lines
    let n = lines.Length
    let rec readExpected (i: int) =
        // Returns (expected, next line index).
        let sb = StringBuilder()
        if i < n && lines[i] = "----" then
            // Blank lines allowed: ends at two successive "----" lines.
            let rec loop j =
                if j >= n then j
                elif lines[j] = "----" && j + 1 < n && lines[j + 1] = "----" then j + 2
                else
                    sb.Append(lines[j]).Append('\n') |> ignore
                    loop (j + 1)
            let next = loop (i + 1)
            sb.ToString(), next
        else
            let rec loop j =
                if j >= n || lines[j].Trim() = "" then j
                else
                    sb.Append(lines[j]).Append('\n') |> ignore
                    loop (j + 1)
            let next = loop i
            sb.ToString(), next
    let rec directives (i: int) (acc: TestData list) =
        if i >= n then
            Ok(List.rev acc)
        else
            let trimmed = lines[i].Trim()
            if trimmed.StartsWith "#" then
                directives (i + 1) acc
            else
                // Directive lines may be wrapped with a trailing backslash.
                let rec join (line: string) j =
                    if line.EndsWith "\\" && j + 1 < n then
                        join (line.Substring(0, line.Length - 1) + " " + lines[j + 1].Trim()) (j + 1)
                    else
                        line, j
                let line, last = join trimmed i
                let pos = sprintf "%s:%d" source (i + 1)
                match parseLine line with
                | Error e -> Error(sprintf "%s: %s" pos e)
                | Ok("", _) -> directives (last + 1) acc
                | Ok(cmd, args) ->
                    let input = StringBuilder()
                    let rec readInput j =
                        if j >= n then j, false
                        elif lines[j] = "----" then j + 1, true
                        else
                            input.Append(lines[j]).Append('\n') |> ignore
                            readInput (j + 1)
                    let afterInput, hasSeparator = readInput (last + 1)
                    let expected, next = if hasSeparator then readExpected afterInput else "", afterInput
                    let d =
                        { Pos = pos
                          Cmd = cmd
                          CmdArgs = args
                          Input = input.ToString().Trim()
                          Expected = expected }
                    directives next (d :: acc)
    directives 0 []

/// A line diff (longest common subsequence) of expected against actual, `-` for expected only,
/// `+` for actual only.
let diff (expected: string) (actual: string) =
    let a = expected.TrimEnd('\n').Split('\n')
    let b = actual.TrimEnd('\n').Split('\n')
    let lcs = Array2D.zeroCreate (a.Length + 1) (b.Length + 1)
    for i in a.Length - 1 .. -1 .. 0 do
        for j in b.Length - 1 .. -1 .. 0 do
            lcs[i, j] <- if a[i] = b[j] then lcs[i + 1, j + 1] + 1 else max lcs[i + 1, j] lcs[i, j + 1]
    let sb = StringBuilder()
    let rec walk i j =
        if i < a.Length && j < b.Length && a[i] = b[j] then
            sb.Append("  ").Append(a[i]).Append('\n') |> ignore
            walk (i + 1) (j + 1)
        elif j < b.Length && (i = a.Length || lcs[i, j + 1] >= lcs[i + 1, j]) then
            sb.Append("+ ").Append(b[j]).Append('\n') |> ignore
            walk i (j + 1)
        elif i < a.Length then
            sb.Append("- ").Append(a[i]).Append('\n') |> ignore
            walk (i + 1) j
    walk 0 0
    sb.ToString()

/// Normalises a handler's output the way etcd's runner does: non-empty output ends with a newline.
let normalise (actual: string) =
    if actual <> "" && not (actual.EndsWith "\n") then actual + "\n" else actual

/// Runs every directive of a script through `handler` (fresh per script) and returns the first
/// mismatch as a readable report, or None when the whole script matches byte for byte.
let runScript (source: string) (text: string) (handler: TestData -> string) : string option =
    match parse source text with
    | Error e -> Some e
    | Ok directives ->
        let rec go =
            function
            | [] -> None
            | (d: TestData) :: rest ->
                let actual =
                    try
                        normalise (handler d)
                    with ex ->
                        sprintf "<exception> %s\n" (ex.ToString())
                if actual = d.Expected then
                    go rest
                else
                    Some(
                        sprintf
                            "%s: output of `%s` differs (- expected, + actual):\n%s"
                            d.Pos
                            d.Cmd
                            (diff d.Expected actual)
                    )
        go directives

/// Reads a script from disk and runs it.
let runFile (path: string) (name: string) (handler: TestData -> string) =
    runScript name (File.ReadAllText path) handler
