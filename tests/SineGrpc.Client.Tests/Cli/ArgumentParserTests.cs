using SineGrpc.Client.Cli;

namespace SineGrpc.Client.Tests.Cli;

public class ArgumentParserTests
{
    private static readonly CommandSpec Command = new("demo", "sine demo", "A demo.",
    [
        new("input", "path", "Input"),
        new("count", "n", "Count"),
        new("verbose", null, "A flag"),
        new("item", "x", "Repeatable", Repeatable: true),
    ]);

    [Fact]
    public void A_repeatable_option_keeps_its_values_in_order()
    {
        var args = ArgumentParser.Parse(Command, ["--item", "b", "--input", "i", "--item=a"]);

        Assert.Equal(["b", "a"], args.GetAll("item"));
        Assert.Equal("b", args.Get("item"));
        Assert.Empty(args.GetAll("count"));
    }

    [Fact]
    public void Reads_separate_and_inline_values_and_flags()
    {
        var args = ArgumentParser.Parse(Command, ["--input", "a b.mp4", "--count=3", "--verbose"]);

        Assert.Equal("a b.mp4", args.Get("input"));
        Assert.Equal(3, args.GetInt("count", 1, 10));
        Assert.True(args.Has("verbose"));
        Assert.False(args.HelpRequested);
    }

    [Fact]
    public void Absent_options_are_null()
    {
        var args = ArgumentParser.Parse(Command, []);

        Assert.Null(args.Get("input"));
        Assert.Null(args.GetInt("count", 1, 10));
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public void Help_wins_over_errors(string help)
    {
        Assert.True(ArgumentParser.Parse(Command, ["--nonsense", help]).HelpRequested);
    }

    [Theory]
    [InlineData(new[] { "--bogus", "1" }, "unknown option '--bogus'")]
    [InlineData(new[] { "stray" }, "unexpected argument 'stray'")]
    [InlineData(new[] { "--input" }, "--input needs a value")]
    [InlineData(new[] { "--input", "--verbose" }, "--input needs a value")]
    [InlineData(new[] { "--input=" }, "--input needs a non-empty value")]
    [InlineData(new[] { "--input", "a", "--input", "b" }, "--input is given more than once")]
    [InlineData(new[] { "--verbose=yes" }, "--verbose takes no value")]
    [InlineData(new[] { "--" }, "unexpected argument '--'")]
    public void Rejects_bad_syntax(string[] argv, string message)
    {
        var ex = Assert.Throws<UsageException>(() => ArgumentParser.Parse(Command, argv));
        Assert.Contains(message, ex.Message);
    }

    [Theory]
    [InlineData("zero")]
    [InlineData("0")]
    [InlineData("11")]
    [InlineData("2.5")]
    public void Rejects_numbers_out_of_range(string value)
    {
        var args = ArgumentParser.Parse(Command, ["--count", value]);

        var ex = Assert.Throws<UsageException>(() => args.GetInt("count", 1, 10));
        Assert.Contains("--count must be a whole number from 1 to 10", ex.Message);
    }

    [Fact]
    public void Missing_required_option_names_the_command()
    {
        var args = ArgumentParser.Parse(Command, []);

        var ex = Assert.Throws<UsageException>(() => args.GetRequired("input"));
        Assert.Equal("missing --input (see 'sine demo --help')", ex.Message);
    }
}
