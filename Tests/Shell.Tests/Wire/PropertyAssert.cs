using FsCheck;
using FsCheck.Fluent;

namespace Raft.Shell.Tests.Wire;

/// <summary>
/// Runs a property, and shows a deliberately broken variant of it fails. Inputs come from this run's
/// <see cref="TestSeed"/>, which a failure names.
/// </summary>
internal static class PropertyAssert
{
    public static void Holds<T>(Gen<T> gen, Func<T, bool> property)
    {
        try
        {
            Check.One(TestSeed.PropertyConfig(300), Prop.ForAll(gen.ToArbitrary(), property));
        }
        catch (Exception ex)
        {
            throw new Xunit.Sdk.XunitException($"{TestSeed.Describe}: {ex.Message}");
        }
    }

    public static void Fails<T>(Gen<T> gen, Func<T, bool> brokenProperty) =>
        Assert.ThrowsAny<Exception>(() => Holds(gen, brokenProperty));
}
