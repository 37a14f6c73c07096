using FsCheck;
using FsCheck.Fluent;

namespace Raft.Shell.Tests.Wire;

/// <summary>Runs a property, and shows a deliberately broken variant of it fails.</summary>
internal static class PropertyAssert
{
    public static void Holds<T>(Gen<T> gen, Func<T, bool> property) =>
        Check.One(Config.QuickThrowOnFailure.WithMaxTest(300), Prop.ForAll(gen.ToArbitrary(), property));

    public static void Fails<T>(Gen<T> gen, Func<T, bool> brokenProperty) =>
        Assert.ThrowsAny<Exception>(() => Holds(gen, brokenProperty));
}
