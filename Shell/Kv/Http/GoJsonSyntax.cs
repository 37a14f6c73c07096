using System.Text;

namespace Raft.Kv.Http;

/// <summary>
/// The syntax errors Go's encoding/json scanner reports, which etcd's gateway passes through as the
/// error message ("invalid character 'x' looking for beginning of value", "unexpected EOF", ...).
/// Only consulted when a body fails to parse, to describe why in etcd's words.
/// </summary>
internal static class GoJsonSyntax
{
    private enum Frame
    {
        ObjectKey,
        ObjectValue,
        Array,
    }

    private enum State
    {
        BeginValue,
        BeginValueOrEmpty,
        BeginStringOrEmpty,
        BeginString,
        EndValue,
        EndTop,
        InString,
        InStringEsc,
        InStringEscU,
        Neg,
        Digits1,
        Zero,
        Dot,
        Dot0,
        E,
        ESign,
        E0,
        Literal,
    }

    /// <summary>
    /// The first syntax error in <paramref name="data"/>, or null. As a stream decoder (the gateway's
    /// json.Decoder) only the first value counts and running out of input is "unexpected EOF"; as
    /// json.Unmarshal (<paramref name="wholeInput"/>) text after the value is an error and running out
    /// is "unexpected end of JSON input".
    /// </summary>
    public static string? FirstError(ReadOnlySpan<byte> data, bool wholeInput)
    {
        var stack = new Stack<Frame>();
        var state = State.BeginValue;
        var hexLeft = 0;
        string literal = "";
        var literalPos = 0;

        for (var i = 0; i < data.Length; i++)
        {
            var c = data[i];
            var reprocess = true;
            while (reprocess)
            {
                reprocess = false;
                switch (state)
                {
                    case State.BeginValueOrEmpty:
                        if (IsSpace(c)) break;
                        if (c == ']')
                        {
                            stack.Pop();
                            state = EndOfValue(stack);
                            if (state == State.EndTop && !wholeInput) return null;
                            break;
                        }
                        state = State.BeginValue;
                        reprocess = true;
                        break;
                    case State.BeginValue:
                        if (IsSpace(c)) break;
                        switch (c)
                        {
                            case (byte)'{':
                                stack.Push(Frame.ObjectKey);
                                state = State.BeginStringOrEmpty;
                                break;
                            case (byte)'[':
                                stack.Push(Frame.Array);
                                state = State.BeginValueOrEmpty;
                                break;
                            case (byte)'"':
                                state = State.InString;
                                break;
                            case (byte)'-':
                                state = State.Neg;
                                break;
                            case (byte)'0':
                                state = State.Zero;
                                break;
                            case >= (byte)'1' and <= (byte)'9':
                                state = State.Digits1;
                                break;
                            case (byte)'t':
                                (state, literal, literalPos) = (State.Literal, "true", 1);
                                break;
                            case (byte)'f':
                                (state, literal, literalPos) = (State.Literal, "false", 1);
                                break;
                            case (byte)'n':
                                (state, literal, literalPos) = (State.Literal, "null", 1);
                                break;
                            default:
                                return Invalid(c, "looking for beginning of value");
                        }
                        break;
                    case State.BeginStringOrEmpty:
                        if (IsSpace(c)) break;
                        if (c == '}')
                        {
                            stack.Pop();
                            state = EndOfValue(stack);
                            if (state == State.EndTop && !wholeInput) return null;
                            break;
                        }
                        state = State.BeginString;
                        reprocess = true;
                        break;
                    case State.BeginString:
                        if (IsSpace(c)) break;
                        if (c != '"') return Invalid(c, "looking for beginning of object key string");
                        state = State.InString;
                        break;
                    case State.EndValue:
                    {
                        if (stack.Count == 0)
                        {
                            state = State.EndTop;
                            if (!wholeInput) return null;
                            reprocess = true;
                            break;
                        }
                        if (IsSpace(c)) break;
                        var top = stack.Peek();
                        if (top == Frame.ObjectKey)
                        {
                            if (c != ':') return Invalid(c, "after object key");
                            stack.Pop();
                            stack.Push(Frame.ObjectValue);
                            state = State.BeginValue;
                        }
                        else if (top == Frame.ObjectValue)
                        {
                            if (c == ',')
                            {
                                stack.Pop();
                                stack.Push(Frame.ObjectKey);
                                state = State.BeginString;
                            }
                            else if (c == '}')
                            {
                                stack.Pop();
                                state = EndOfValue(stack);
                                if (state == State.EndTop && !wholeInput) return null;
                            }
                            else
                            {
                                return Invalid(c, "after object key:value pair");
                            }
                        }
                        else
                        {
                            if (c == ',')
                            {
                                state = State.BeginValue;
                            }
                            else if (c == ']')
                            {
                                stack.Pop();
                                state = EndOfValue(stack);
                                if (state == State.EndTop && !wholeInput) return null;
                            }
                            else
                            {
                                return Invalid(c, "after array element");
                            }
                        }
                        break;
                    }
                    case State.EndTop:
                        if (!IsSpace(c)) return Invalid(c, "after top-level value");
                        break;
                    case State.InString:
                        if (c == '"')
                        {
                            state = State.EndValue;
                        }
                        else if (c == '\\')
                        {
                            state = State.InStringEsc;
                        }
                        else if (c < 0x20)
                        {
                            return Invalid(c, "in string literal");
                        }
                        break;
                    case State.InStringEsc:
                        if (c is (byte)'b' or (byte)'f' or (byte)'n' or (byte)'r' or (byte)'t' or (byte)'\\' or (byte)'/' or (byte)'"')
                        {
                            state = State.InString;
                        }
                        else if (c == 'u')
                        {
                            (state, hexLeft) = (State.InStringEscU, 4);
                        }
                        else
                        {
                            return Invalid(c, "in string escape code");
                        }
                        break;
                    case State.InStringEscU:
                        if (!IsHex(c)) return Invalid(c, "in \\u hexadecimal character escape");
                        if (--hexLeft == 0) state = State.InString;
                        break;
                    case State.Neg:
                        if (c == '0') state = State.Zero;
                        else if (c is >= (byte)'1' and <= (byte)'9') state = State.Digits1;
                        else return Invalid(c, "in numeric literal");
                        break;
                    case State.Digits1:
                        if (IsDigit(c)) break;
                        state = State.Zero;
                        reprocess = true;
                        break;
                    case State.Zero:
                        if (c == '.') state = State.Dot;
                        else if (c is (byte)'e' or (byte)'E') state = State.E;
                        else
                        {
                            state = State.EndValue;
                            reprocess = true;
                        }
                        break;
                    case State.Dot:
                        if (!IsDigit(c)) return Invalid(c, "after decimal point in numeric literal");
                        state = State.Dot0;
                        break;
                    case State.Dot0:
                        if (IsDigit(c)) break;
                        if (c is (byte)'e' or (byte)'E') state = State.E;
                        else
                        {
                            state = State.EndValue;
                            reprocess = true;
                        }
                        break;
                    case State.E:
                        if (c is (byte)'+' or (byte)'-')
                        {
                            state = State.ESign;
                            break;
                        }
                        state = State.ESign;
                        reprocess = true;
                        break;
                    case State.ESign:
                        if (!IsDigit(c)) return Invalid(c, "in exponent of numeric literal");
                        state = State.E0;
                        break;
                    case State.E0:
                        if (IsDigit(c)) break;
                        state = State.EndValue;
                        reprocess = true;
                        break;
                    case State.Literal:
                        if (c != literal[literalPos]) return Invalid(c, $"in literal {literal} (expecting {Quote((byte)literal[literalPos])})");
                        if (++literalPos == literal.Length) state = State.EndValue;
                        break;
                }
            }
        }

        // End of input: a finished number or value is complete, anything else was cut short.
        var complete = state switch
        {
            State.EndTop => true,
            State.EndValue or State.Digits1 or State.Zero or State.Dot0 or State.E0 => stack.Count == 0,
            _ => false,
        };
        if (complete) return null;
        if (!wholeInput) return "unexpected EOF";
        return "unexpected end of JSON input";
    }

    private static State EndOfValue(Stack<Frame> stack) => stack.Count == 0 ? State.EndTop : State.EndValue;

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n';

    private static bool IsDigit(byte c) => c is >= (byte)'0' and <= (byte)'9';

    private static bool IsHex(byte c) => IsDigit(c) || c is >= (byte)'a' and <= (byte)'f' || c is >= (byte)'A' and <= (byte)'F';

    private static string Invalid(byte c, string context) => $"invalid character {Quote(c)} {context}";

    /// <summary>Go's quoteChar: the byte as a rune in single quotes, escaped as strconv.Quote escapes it.</summary>
    private static string Quote(byte c)
    {
        if (c == '\'') return "'\\''";
        if (c == '"') return "'\"'";
        var inner = c switch
        {
            0x07 => "\\a",
            0x08 => "\\b",
            0x0C => "\\f",
            0x0A => "\\n",
            0x0D => "\\r",
            0x09 => "\\t",
            0x0B => "\\v",
            (byte)'\\' => "\\\\",
            < 0x20 or 0x7F => $"\\x{c:x2}",
            >= 0x80 and < 0xA0 => $"\\u{c:x4}",
            _ => new string((char)c, 1),
        };
        return "'" + inner + "'";
    }

    /// <summary>The text of a JSON number token (for "cannot unmarshal number 1.5 into ...").</summary>
    public static string Text(ReadOnlySpan<byte> token) => Encoding.UTF8.GetString(token);
}
